/**
 * The node-postgres example of docs/guides/sending.md is a program, not a sketch: extracted and run
 * with node as written (its only input is DATABASE_URL, a role granted sms_sender), it enqueues
 * the SMS in the same transaction as the business change.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { ROOT } from './helpers.js';

let tdb: TestDatabase;
const role = `sms_readme_app_${process.pid}`;
let dir: string;

/** The fenced block of `language` that follows the first line starting with `lead`. */
function snippet(lead: string, language: string): string {
  const readme = readFileSync(path.join(ROOT, 'docs/guides/sending.md'), 'utf8');
  const at = readme.indexOf(`\n${lead}`);
  assert.ok(at >= 0, `docs/guides/sending.md has "${lead}"`);
  const block = new RegExp('```' + language + '\\n([\\s\\S]*?)\\n```').exec(readme.slice(at));
  assert.ok(block, `a ${language} block after "${lead}"`);
  return block[1]!;
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Readme'`);
  await tdb.pool.query(`create table orders (id integer primary key, status text not null)`);
  await tdb.pool.query(`insert into orders values (42, 'new')`);
  await tdb.pool.query(`create role ${role} login password 'readme-only' in role sms_sender`);
  await tdb.pool.query(`grant select, update on orders to ${role}`);
  // Inside the checkout, so `import pg from 'pg'` resolves as it does in an app that depends on pg.
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  dir = mkdtempSync(path.join(ROOT, '.tmp', 'readme-'));
});

after(async () => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  await tdb?.pool.query(`drop owned by ${role}`).catch(() => {});
  await tdb?.pool.query(`drop role if exists ${role}`).catch(() => {});
  await tdb?.drop();
});

test('the node-postgres example runs as written: the order is paid and its SMS queued, together', async () => {
  const file = path.join(dir, 'send.mjs');
  writeFileSync(file, snippet('**node-postgres**', 'js'));
  const url = new URL(tdb.url);
  url.username = role;
  url.password = 'readme-only';
  const r = spawnSync(process.execPath, [file], { env: { PATH: process.env.PATH, DATABASE_URL: url.toString() }, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const order = await tdb.pool.query('select status from orders where id = 42');
  assert.equal(order.rows[0].status, 'paid');
  const sms = await tdb.pool.query(`select recipient, sender, status from sms_outbox where idempotency_key = 'order-paid:42'`);
  assert.deepEqual(sms.rows, [{ recipient: '79991234567', sender: 'Readme', status: 'queued' }]);
});
