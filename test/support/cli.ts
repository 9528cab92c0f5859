/**
 * How tests run the `sms-outbox` command as a process: the arguments for `process.execPath`.
 *
 * The compiled package (bin/sms-outbox.js over dist/, what an install runs) when dist/ is at
 * least as new as every file of src/ (`npm test` builds it first when it is not); otherwise src/cli.ts through
 * tsx, so a file run on its own after an edit never runs stale code. Starting from dist/ costs
 * about half a CPU-second less per process than through tsx, and the suite starts over a hundred.
 * SMS_TEST_CLI=tsx or =dist forces one (test/support/run.ts sets it for the files it runs).
 */
import path from 'node:path';
import { outdatedSources, ROOT } from './compiled.js';

export const SOURCE_CLI = path.join(ROOT, 'src/cli.ts');
export const BUILT_CLI = path.join(ROOT, 'bin/sms-outbox.js');

/** Whether every src/**\/*.ts has its dist/**\/*.js, written after it. */
export function distIsCurrent(): boolean {
  const src = path.join(ROOT, 'src');
  return outdatedSources(src, (f) => path.join(ROOT, 'dist', path.relative(src, f)).replace(/\.ts$/, '.js')).length === 0;
}

let built: boolean | undefined;

/** Whether processes run the compiled package (see above). */
export function runsBuiltCli(): boolean {
  if (built === undefined) {
    const forced = process.env.SMS_TEST_CLI;
    built = forced === 'dist' ? true : forced === 'tsx' ? false : distIsCurrent();
  }
  return built;
}

/** `process.execPath` arguments that run `sms-outbox <args>`. */
export function cliArgs(args: string[]): string[] {
  return runsBuiltCli() ? [BUILT_CLI, ...args] : ['--import', 'tsx', SOURCE_CLI, ...args];
}

/** The same as one shell command line (for the docs' blocks, where `npx sms-outbox` stands). */
export function cliCommandLine(): string {
  return ['node', ...cliArgs([])].join(' ');
}
