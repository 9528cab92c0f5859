#!/usr/bin/env node
// The published entry point runs the compiled CLI (dist/ is built by `npm run build`,
// which `npm install` in a checkout runs through the prepare script).
import { main } from '../dist/cli.js';

main(process.argv.slice(2)).then(
  (code) => { if (typeof code === 'number') process.exitCode = code; },
  (err) => {
    process.stderr.write(`sms-outbox: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  },
);
