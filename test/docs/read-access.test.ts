/**
 * The reference's "Who can read what" table (docs/reference/sql-api.md) against the grants: for
 * each sms_ role it lists, and for a login with no role at all, a login of its own reads (or is
 * refused) message bodies, a live sign-in code and one the SMSC has accepted, recipients and
 * statuses, and incoming SMS, as the row's cells say. The cells are read from the page, so a
 * change of the grants or of the table that makes them disagree fails here. (The Supabase rows
 * are checked by test/supabase/, on a database with Supabase's roles.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { TestRoles } from '../sql/helpers.js';
import { sendSmsEvent } from '../supabase/support.js';
import { readDoc, section } from './markdown.js';

const table = section(readDoc('docs/reference/sql-api.md'), '### Who can read what');
/** The table's rows by their first cell's name (`sms_reader`, `any login`, ...). */
const rows = new Map(
  [...table.matchAll(/^\| (.+) \|$/gm)]
    .map((m) => m[1]!.split(' | ').map((c) => c.trim()))
    .filter((cells) => cells.length === 5 && !/^(role|---)/.test(cells[0]!))
    .map((cells) => [/`([^`]+)`/.exec(cells[0]!)?.[1] ?? cells[0]!, cells.slice(1)] as const),
);

let tdb: TestDatabase;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
let appLogin: string;
let ownId: string;
let otherId: string;
let liveCodeId: string;
let sentCodeId: string;
const CODE = '482913';
const SENT_CODE = '771204';

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Shop'`);
  appLogin = await roles.create({ login: password, memberOf: ['sms_sender'] });
  const app = await connectAs(tdb.url, appLogin, password);
  ownId = (await app.query(`select sms_send('+79990000001', 'Order 42 is paid') as id`)).rows[0].id;
  await app.end();
  otherId = (await tdb.pool.query(`select sms_send('+79990000002', 'Someone else''s order') as id`)).rows[0].id;
  // Two sign-in codes as Supabase Auth queues them; the SMSC accepted the second.
  for (const [otp, phone] of [
    [CODE, '79990000003'],
    [SENT_CODE, '79990000004'],
  ]) {
    const answer = (await tdb.pool.query('select sms_auth_send_sms_hook($1) as a', [sendSmsEvent({ phone, otp })])).rows[0].a;
    assert.deepEqual(answer, {});
  }
  const codes = await tdb.pool.query<{ id: string; recipient: string }>(`select id, recipient from sms_outbox where metadata->>'via' = 'supabase_auth_hook'`);
  liveCodeId = codes.rows.find((r) => r.recipient === '79990000003')!.id;
  sentCodeId = codes.rows.find((r) => r.recipient === '79990000004')!.id;
  await tdb.pool.query(`update sms_outbox set status = 'sent', submitted_at = now(), attempts = 1 where id = $1`, [sentCodeId]);
  await tdb.pool.query(`select sms_inbound_store('79990000001', '1234', 'Thanks!', false, null, 'gsm7', 1, 0)`);
});

after(async () => {
  await tdb?.drop();
  await roles.dropAll();
});

/** The rows, or the SQLSTATE of the refusal. */
async function read(c: pg.Client, sql: string, params: unknown[] = []): Promise<Record<string, unknown>[] | string> {
  try {
    return (await c.query(sql, params)).rows;
  } catch (err) {
    return (err as { code?: string }).code ?? String(err);
  }
}

/** What a login with `role` (none: null) can read, in the table's terms. */
async function observe(role: string | null, login?: string) {
  const name = login ?? (await roles.create({ login: password, memberOf: role ? [role] : [] }));
  const c = await connectAs(tdb.url, name, password);
  try {
    const outbox = await read(c, `select id, recipient, status, body from sms_outbox`);
    const secret = await read(c, `select outbox_id, body from sms_outbox_secret`);
    const status = await read(c, `select id, status, recipient from sms_status($1)`, [ownId]);
    const othersStatus = await read(c, `select id from sms_status($1)`, [otherId]);
    const inbox = await read(c, `select body from sms_inbox`);
    const listen = await read(c, `listen sms_status`);
    return { outbox, secret, status, othersStatus, inbox, listen };
  } finally {
    await c.end();
  }
}

type Seen = Awaited<ReturnType<typeof observe>>;
const rowsOf = (v: Record<string, unknown>[] | string) => (typeof v === 'string' ? [] : v);

function checkBodies(cell: string, seen: Seen): void {
  if (/^no\b/.test(cell)) {
    assert.equal(seen.outbox, '42501', `bodies: "${cell}", but sms_outbox is readable`);
    if (!/sms_status/.test(cell)) return;
    assert.ok(Array.isArray(seen.status) && seen.status.length === 1, 'sms_status answers for its own message');
    assert.ok(!('body' in (seen.status[0] as object)), 'sms_status has no body');
    return;
  }
  assert.match(cell, /^yes\b/, `an unknown cell: ${cell}`);
  const own = rowsOf(seen.outbox).find((r) => r.id === ownId);
  assert.equal(own?.body, 'Order 42 is paid', `bodies: "${cell}"`);
}

function checkCodes(cell: string, seen: Seen): void {
  const outboxBody = (id: string) => rowsOf(seen.outbox).find((r) => r.id === id)?.body;
  const secretBody = (id: string) => rowsOf(seen.secret).find((r) => r.outbox_id === id)?.body;
  for (const id of [liveCodeId, sentCodeId]) assert.ok(![CODE, SENT_CODE].some((code) => String(outboxBody(id) ?? '').includes(code)), 'no code in sms_outbox.body');
  if (/^no\b/.test(cell)) {
    assert.equal(seen.secret, '42501', `codes: "${cell}", but sms_outbox_secret is readable`);
    if (/blank/.test(cell)) assert.equal(outboxBody(liveCodeId), '', 'their body is blank');
    return;
  }
  assert.match(cell, /^only while the code is `queued` or `sending`.*nobody/, `an unknown cell: ${cell}`);
  assert.ok(String(secretBody(liveCodeId)).includes(CODE), 'the live code is readable');
  assert.equal(secretBody(sentCodeId), undefined, 'the accepted code is gone');
  assert.equal(outboxBody(sentCodeId), '');
}

function checkRecipients(cell: string, seen: Seen): void {
  if (/^every message/.test(cell)) {
    assert.deepEqual(new Set(rowsOf(seen.outbox).map((r) => r.id)), new Set([ownId, otherId, liveCodeId, sentCodeId]), `recipients: "${cell}"`);
    return;
  }
  if (/^its own messages, through `sms_status`/.test(cell)) {
    assert.equal(seen.outbox, '42501');
    assert.deepEqual(rowsOf(seen.status).map((r) => r.recipient), ['79990000001']);
    assert.deepEqual(seen.othersStatus, [], "another's message is not there");
    return;
  }
  assert.match(cell, /^message ids and statuses on `LISTEN sms_status`/, `an unknown cell: ${cell}`);
  assert.equal(seen.outbox, '42501');
  assert.equal(seen.status, '42501');
  assert.deepEqual(seen.listen, [], 'LISTEN is open to any login');
}

function checkInbox(cell: string, seen: Seen): void {
  if (/^no\b/.test(cell)) {
    assert.equal(seen.inbox, '42501', `inbox: "${cell}"`);
    return;
  }
  assert.match(cell, /^yes\b/, `an unknown cell: ${cell}`);
  assert.deepEqual(rowsOf(seen.inbox).map((r) => r.body), ['Thanks!']);
}

test('the table lists the three sms_ roles and any login', () => {
  for (const name of ['sms_sender', 'sms_reader', 'sms_worker', 'any login']) assert.ok(rows.has(name), `a row for ${name}`);
});

for (const [name, role] of [
  ['sms_sender', 'sms_sender'],
  ['sms_reader', 'sms_reader'],
  ['sms_worker', 'sms_worker'],
  ['any login', null],
] as const) {
  test(`${name}: what its row says, a login of its own reads`, async () => {
    const [bodies, codes, recipients, inbox] = rows.get(name)!;
    // The app's own login, for "its own messages".
    const seen = await observe(role, role === 'sms_sender' ? appLogin : undefined);
    checkBodies(bodies!, seen);
    checkCodes(codes!, seen);
    checkRecipients(recipients!, seen);
    checkInbox(inbox!, seen);
  });
}
