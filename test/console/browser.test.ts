/**
 * The console in a real headless browser (Debian's chromium through playwright-core), against a
 * real worker process, the simulator process and Postgres: sign in; a message sent with sms_send
 * appears and turns delivered live; a text asked for survives a live refresh of its row; filter
 * by recipient; retry a failed message and see it delivered through the simulator; a reader
 * login cannot retry or opt in (no button, and the request is refused by Postgres); an incoming
 * SMS appears in the conversation; live updates pause and resume; sign-in codes never reach a
 * page or a log line. Every page is screenshot (the directory is printed) and checked with
 * axe-core: no serious or critical violation. The screenshots are there to look at when a test
 * failed: kept then (the path printed again at the end), removed after a run that passed.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, afterEach, before, describe, test } from 'node:test';
import type pg from 'pg';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { connectAs, createTestDatabase, type TestDatabase } from '../support/db.js';
import { startWorkerProcess, waitForStatuses, type WorkerProcess } from '../support/worker-process.js';
import { startSimulatorProcess, type SimulatorProcess } from '../support/simulator-process.js';
import { TestRoles } from '../sql/helpers.js';
import type { ConsoleHandle } from '../../src/console/server.js';
import {
  accessibilityProblems,
  captureLogger,
  launchBrowser,
  liveReady,
  SCREENSHOT_DIR,
  screenshot,
  sendAs,
  serverSkipsPasswords,
  signInAs,
  startTestConsole,
} from './support.js';

let tdb: TestDatabase;
let simulator: SimulatorProcess;
let worker: WorkerProcess;
let consoleHandle: ConsoleHandle;
let browser: Browser;
let support: BrowserContext;
let page: Page;
let app: pg.Client;
let supportLogin: string;
let readerLogin: string;
let trust = false;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const log = captureLogger();
const SIGN_IN_CODE = '482913';
const bodies: string[] = [];
const a11y: Record<string, string[]> = {};

async function check(p: Page, name: string): Promise<void> {
  await screenshot(p, name);
  a11y[name] = await accessibilityProblems(p);
}

async function send(recipient: string, body: string): Promise<string> {
  bodies.push(body);
  return sendAs(app, recipient, body);
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Console'`);
  supportLogin = await roles.create({ login: password, memberOf: ['sms_reader', 'sms_sender'] });
  readerLogin = await roles.create({ login: password, memberOf: ['sms_reader'] });
  const workerLogin = await roles.create({ login: password, memberOf: ['sms_worker'] });
  trust = await serverSkipsPasswords(tdb, supportLogin);
  app = await connectAs(tdb.url, supportLogin, password);
  simulator = await startSimulatorProcess(['--receipt-delay-ms', '50']);
  const u = new URL(tdb.url);
  u.username = workerLogin;
  u.password = password;
  worker = startWorkerProcess({ DATABASE_URL: u.toString(), SMPP_URL: `smpp://console:test@127.0.0.1:${simulator.smppPort}`, SMS_WORKER_ID: 'console-test-worker' });
  await worker.waitForLog(/SMPP session bound/);
  consoleHandle = await startTestConsole(tdb, { logger: log.logger, allowPasswordless: trust });
  browser = await launchBrowser();
  support = await browser.newContext();
  page = await support.newPage();
  // What the page did, for a test that failed: where it went, what it warned, which requests failed.
  page.on('framenavigated', (f) => f === page.mainFrame() && journal.push(`navigated to ${f.url()}`));
  page.on('console', (m) => m.type() !== 'log' && journal.push(`console ${m.type()}: ${m.text()}`));
  page.on('response', (r) => r.status() >= 400 && journal.push(`HTTP ${r.status()} ${r.request().method()} ${r.url()}`));
  page.on('requestfailed', (r) => journal.push(`request failed: ${r.method()} ${r.url()} (${r.failure()?.errorText})`));
  process.stdout.write(`console screenshots: ${SCREENSHOT_DIR}\n`);
});

/** A test did not pass (the test context's `passed`, which @types/node 20 does not declare; before Node.js 20.12 it is unset, and the screenshots are kept). */
let failed = false;
const journal: string[] = [];
afterEach((t) => {
  if ((t as { passed?: boolean }).passed !== true) {
    failed = true;
    process.stdout.write(`the page during "${t.name}":\n${journal.map((l) => `  ${l}\n`).join('') || '  (no navigation, warning or failed request)\n'}`);
  }
  journal.length = 0;
});

after(async () => {
  if (process.env.SMS_TEST_CONSOLE_LOGS) process.stderr.write(log.text());
  if (failed) process.stdout.write(`console screenshots kept: ${SCREENSHOT_DIR}\n`);
  else rmSync(SCREENSHOT_DIR, { recursive: true, force: true });
  await browser?.close();
  await consoleHandle?.close();
  await worker?.stop();
  await simulator?.stop();
  await app?.end();
  await tdb.drop();
  await roles.dropAll();
});

describe('the console in a browser', () => {
  test('sign in with a Postgres login; a wrong password is refused', async (t) => {
    t.diagnostic(`screenshots in ${SCREENSHOT_DIR}`);
    await page.goto(`${consoleHandle.url}/messages`);
    assert.match(page.url(), /\/sign-in\?next=%2Fmessages$/, 'signed out: sent to the sign-in page');
    await check(page, '01-sign-in');
    if (!trust) {
      await page.fill('#user', supportLogin);
      await page.fill('#password', 'not-the-password');
      await page.click('form.sign-in button[type=submit]');
      assert.match(await page.textContent('.notice.problem') ?? '', /login name or the password is wrong/);
      await screenshot(page, '02-sign-in-refused');
    }
    await signInAs(page, consoleHandle.url, supportLogin, password);
    assert.equal(await page.textContent('h1'), 'Overview');
    assert.match(await page.textContent('header .who') ?? '', new RegExp(`Signed in as ${supportLogin}`));
    const cookie = (await support.cookies()).find((c) => c.name === 'sms_console')!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
  });

  test('a message sent with sms_send appears on the messages page and turns delivered, live', async () => {
    await page.goto(`${consoleHandle.url}/messages`);
    await liveReady(page);
    const id = await send('+79990000001', 'Your parcel 7731 is on its way');
    await page.waitForSelector(`tr[data-id="${id}"]`, { timeout: 20_000 });
    await page.waitForSelector(`tr[data-id="${id}"] [data-status="delivered"]`, { timeout: 20_000 });
    assert.equal(await page.locator(`tr[data-id="${id}"] td.text`).textContent(), 'Show text', 'the text stays hidden until asked');
    await page.click(`tr[data-id="${id}"] a[data-reveal]`);
    await page.waitForSelector(`tr[data-id="${id}"] .body-text`);
    assert.equal(await page.textContent(`tr[data-id="${id}"] .body-text`), 'Your parcel 7731 is on its way');
    await check(page, '03-messages');
  });

  test('a text asked for while a live update replaces its row appears in the new row, and stays on the next', async () => {
    const id = await send('+79990000012', 'Courier at the door in 5 minutes');
    await waitForStatuses(tdb.pool, [id], ['delivered']);
    await page.goto(`${consoleHandle.url}/messages`);
    await liveReady(page);
    const row = `tr[data-id="${id}"]`;
    // The text's answer is held until the row has been read again and replaced.
    let release!: () => void;
    const asked = new Promise<void>((resolve) => {
      void page.route(`**/messages/${id}/text`, async (route) => {
        resolve();
        await new Promise<void>((r) => { release = r; });
        await route.continue();
      });
    });
    const replaced = async (): Promise<void> => {
      await page.$eval(row, (tr) => tr.setAttribute('data-old', '1'));
      // What the worker announces when a message changes; the page reads the row again.
      await tdb.pool.query(`select pg_notify('sms_status', json_build_object('id', $1::text, 'status', 'delivered')::text)`, [id]);
      await page.waitForSelector(`${row}:not([data-old])`, { timeout: 20_000 });
    };
    await page.click(`${row} a[data-reveal]`);
    await asked;
    await replaced();
    release();
    await page.waitForSelector(`${row} .body-text`, { timeout: 20_000 });
    assert.equal(await page.textContent(`${row} .body-text`), 'Courier at the door in 5 minutes');
    await page.unroute(`**/messages/${id}/text`);
    await replaced();
    assert.equal(await page.textContent(`${row} .body-text`), 'Courier at the door in 5 minutes', 'a shown text stays through a refresh');
  });

  test('filter by recipient: the filter is in the URL, every row is to that number', async () => {
    await send('+79990000002', 'Table for two at 19:00 confirmed');
    const mine = await send('+79990000003', 'Your code for the locker: 5512');
    await waitForStatuses(tdb.pool, [mine], ['delivered']);
    await page.goto(`${consoleHandle.url}/messages`);
    await page.fill('#f-recipient', '+7 (999) 000-00-03');
    await Promise.all([page.waitForNavigation(), page.click('form.filters button[type=submit]')]);
    assert.match(page.url(), /recipient=%2B7\+%28999%29\+000-00-03/);
    const recipients = await page.locator('table[data-list=messages] tbody tr td:nth-child(3)').allTextContents();
    assert.deepEqual(recipients, ['+79990000003']);
    assert.equal(await page.locator(`tr[data-id="${mine}"]`).count(), 1);
    await check(page, '04-messages-filtered');
  });

  test('retry a failed message from the failures page and see it delivered through the simulator', async () => {
    const r = await simulator.call('POST', '/fail-next', { command_status: 'ESME_RINVDSTADR', count: 1 });
    assert.equal(r.status, 200);
    const id = await send('+79990000004', 'Your appointment is moved to Friday');
    await waitForStatuses(tdb.pool, [id], ['failed']);
    await page.goto(`${consoleHandle.url}/failures`);
    await page.check(`tr[data-id="${id}"] input[type=checkbox]`);
    await Promise.all([page.waitForNavigation(), page.click('#bulk button[type=submit]')]);
    assert.equal(await page.textContent('h1'), 'Retry this message?');
    assert.match(await page.textContent('ul.targets') ?? '', /\+79990000004/);
    await check(page, '06-confirm-retry');
    await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
    assert.match(await page.textContent('ul.results') ?? '', /is queued again/);
    await check(page, '07-retry-done');
    await page.goto(`${consoleHandle.url}/messages/${id}`);
    await liveReady(page);
    await page.waitForSelector('#trail[data-status="delivered"]', { timeout: 20_000 });
    const trail = await page.textContent('#trail') ?? '';
    assert.match(trail, /ESME_RINVDSTADR/, 'the failed attempt is in the trail');
    assert.match(trail, /Outcomes replaced by sms_retry/);
    await page.click('a[data-reveal]');
    await page.waitForSelector('#trail .body-text');
    await check(page, '08-message');
  });

  test('cancel a message waiting to be tried again, from the failures page', async () => {
    const id = await send('+79990000011', 'Your table is ready');
    await waitForStatuses(tdb.pool, [id], ['delivered']);
    // As the worker leaves a message after a transient error: queued again, due in an hour.
    await tdb.pool.query(
      `update sms_outbox set status = 'queued', done_at = null, attempts = 1, error_code = 'ESME_RTHROTTLED', error_message = 'throttled by the SMSC',
              next_attempt_at = now() + interval '1 hour', submitted_at = null, message_ids = null, receipt_state = null where id = $1`,
      [id],
    );
    await page.goto(`${consoleHandle.url}/failures`);
    await page.check(`tr[data-id="${id}"] input[form="bulk-cancel"]`);
    await Promise.all([page.waitForNavigation(), page.click('#bulk-cancel button[type=submit]')]);
    assert.equal(await page.textContent('h1'), 'Cancel this message?');
    await Promise.all([page.waitForNavigation(), page.click('#confirm')]);
    assert.match(await page.textContent('ul.results') ?? '', /cancelled/);
    assert.equal((await tdb.pool.query('select status from sms_outbox where id = $1', [id])).rows[0].status, 'cancelled');
  });

  test('a reader login sees no retry or opt-in button, and Postgres refuses the request', async () => {
    await simulator.call('POST', '/fail-next', { command_status: 'ESME_RINVDSTADR', count: 1 });
    const failed = await send('+79990000005', 'Invoice 5521 is ready');
    await waitForStatuses(tdb.pool, [failed], ['failed']);
    await tdb.pool.query(`select sms_opt_out('+79990000006')`);
    const readerContext = await browser.newContext();
    const reader = await readerContext.newPage();
    try {
      await signInAs(reader, consoleHandle.url, readerLogin, password);
      await reader.goto(`${consoleHandle.url}/failures`);
      assert.equal(await reader.locator(`tr[data-id="${failed}"]`).count(), 1, 'the reader sees the failure');
      assert.equal(await reader.locator('input[type=checkbox], #bulk').count(), 0, 'no selection, no retry button');
      await screenshot(reader, '09-failures-as-reader');
      await reader.goto(`${consoleHandle.url}/messages/${failed}`);
      assert.equal(await reader.locator('form[action="/confirm"]').count(), 0, 'no retry button on the message');
      await reader.goto(`${consoleHandle.url}/opt-outs`);
      assert.equal(await reader.locator('tr[data-recipient="79990000006"]').count(), 1);
      assert.equal(await reader.getByRole('button', { name: /Opt back in/ }).count(), 0, 'no opt-in button');
      // The request a button would have made, with the reader's own session and token: refused by Postgres.
      // (A string: tsx's helpers for named functions do not exist in the page.)
      const answers = (await reader.evaluate(`(async () => {
        const csrf = document.querySelector('input[name=csrf]').value;
        const out = [];
        for (const fields of [{ action: 'retry', target: ${JSON.stringify(failed)} }, { action: 'opt_in', target: '+79990000006' }]) {
          const res = await fetch('/do', { method: 'POST', body: new URLSearchParams({ csrf, ...fields }) });
          out.push({ status: res.status, text: await res.text() });
        }
        return out;
      })()`)) as { status: number; text: string }[];
      assert.equal(answers[0]!.status, 403);
      assert.match(answers[0]!.text, /permission denied for function sms_retry/);
      assert.equal(answers[1]!.status, 403);
      assert.match(answers[1]!.text, /permission denied for function sms_opt_in/);
      assert.equal((await tdb.pool.query('select status from sms_outbox where id = $1', [failed])).rows[0].status, 'failed');
      assert.equal((await tdb.pool.query(`select count(*)::int as n from sms_opt_out where recipient = '79990000006'`)).rows[0].n, 1);
    } finally {
      await readerContext.close();
    }
  });

  test('an incoming SMS appears in the conversation, live; STOP shows as an opt-out', async () => {
    const phone = '79990000007';
    const out = await send(`+${phone}`, 'Your order 88 has shipped. Reply STOP to opt out.');
    await waitForStatuses(tdb.pool, [out], ['delivered']);
    await page.goto(`${consoleHandle.url}/conversation?phone=${phone}&texts=1`);
    await liveReady(page);
    const mo = await simulator.call('POST', '/mo', { from: `+${phone}`, to: 'Console', text: 'Thanks! When will it arrive?' });
    assert.equal(mo.status, 200);
    await page.waitForSelector('ol.conversation li.in .body-text', { timeout: 20_000 });
    assert.equal(await page.textContent('ol.conversation li.in .body-text'), 'Thanks! When will it arrive?');
    assert.equal(await page.locator('ol.conversation li.out').count(), 1);
    await simulator.call('POST', '/mo', { from: `+${phone}`, to: 'Console', text: 'stop' });
    await page.waitForSelector('ol.conversation li.in:nth-of-type(3)', { timeout: 20_000 });
    assert.match(await page.textContent('ol.conversation li.in:last-child .meta') ?? '', /STOP: opted out/);
    await check(page, '10-conversation');
    await page.goto(`${consoleHandle.url}/inbox`);
    assert.equal(await page.locator('table[data-list=inbox] tbody tr').count(), 2);
    await check(page, '11-inbox');
  });

  test('live updates pause and resume', async () => {
    await page.goto(`${consoleHandle.url}/messages`);
    await liveReady(page);
    await page.click('#live-toggle');
    assert.equal(await page.getAttribute('#live-toggle', 'aria-pressed'), 'true');
    const id = await send('+79990000008', 'Paused while this was sent');
    await page.waitForFunction(() => /updates? waiting/.test((globalThis as any).document.getElementById('live-state')?.textContent ?? ''), undefined, { timeout: 20_000 });
    assert.equal(await page.locator(`tr[data-id="${id}"]`).count(), 0, 'nothing changes on the page while paused');
    await screenshot(page, '12-paused');
    await Promise.all([page.waitForNavigation(), page.click('#live-toggle')]);
    await page.waitForSelector(`tr[data-id="${id}"]`);
    await liveReady(page);
    assert.equal(await page.getAttribute('#live-toggle', 'aria-pressed'), 'false');
  });

  test('sign-in codes never reach a page or a log line', async () => {
    const hook = await tdb.pool.query<{ r: Record<string, unknown> }>(`select sms_auth_send_sms_hook($1::jsonb) as r`, [
      JSON.stringify({ user: { id: randomUUID(), phone: '79990000009' }, sms: { otp: SIGN_IN_CODE } }),
    ]);
    assert.deepEqual(hook.rows[0]!.r, {});
    const code = (await tdb.pool.query<{ id: string }>(`select id from sms_outbox where metadata ->> 'via' = 'supabase_auth_hook'`)).rows[0]!.id;
    await waitForStatuses(tdb.pool, [code], ['delivered']);
    const seen: string[] = [];
    for (const path of [`/messages`, `/messages/${code}?text=1`, `/messages/${code}/text`, `/conversation?phone=79990000009&texts=1`, `/phone-sign-in`, `/failures`]) {
      await page.goto(`${consoleHandle.url}${path}`);
      seen.push(await page.content());
      if (path === '/phone-sign-in') await check(page, '13-phone-sign-in');
    }
    for (const htmlText of seen) assert.ok(!htmlText.includes(SIGN_IN_CODE), 'the code is on no page');
    assert.match(seen[1]!, /a sign-in code: never shown/);
  });

  test('every page: screenshot and axe-core finds no serious or critical violation', async () => {
    await tdb.pool.query(
      `insert into sms_inbound_parked (kind, command_id, pdu, sender, recipient, error_code, error_message) values ('mo', 5, '\\x000000', '79990000010', 'Console', '23514', 'new row violates check constraint "my_check"')`,
    );
    const id = (await tdb.pool.query<{ id: string }>(`select id from sms_outbox where recipient = '79990000001'`)).rows[0]!.id;
    const pages: [string, string][] = [
      ['/', '14-overview'],
      ['/messages?status=delivered', '15-messages-delivered'],
      [`/messages/${id}`, '16-message-delivered'],
      ['/failures', '17-failures'],
      ['/opt-outs', '18-opt-outs'],
      ['/parked', '19-parked'],
      ['/lookup', '20-lookup'],
      ['/inbox?sender=%2B79990000007', '21-inbox-filtered'],
    ];
    for (const [path, name] of pages) {
      const res = await page.goto(`${consoleHandle.url}${path}`);
      assert.equal(res?.status(), 200, path);
      await check(page, name);
    }
    assert.deepEqual(
      Object.entries(a11y).filter(([, v]) => v.length),
      [],
      'serious or critical accessibility violations',
    );
    assert.ok(Object.keys(a11y).length >= 14, `checked ${Object.keys(a11y).length} pages`);
    for (const secret of [SIGN_IN_CODE, ...bodies]) assert.ok(!log.text().includes(secret), `no log line holds "${secret}"`);
    assert.ok(log.lines.some((l) => l.msg === 'console: message text shown'), 'showing a text is logged (without it)');
  });
});
