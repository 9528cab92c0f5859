/**
 * The console's defences, over plain HTTP against the real console and Postgres: the headers on
 * every answer, the session cookie, CSRF on every POST, sign-in refusals (wrong password,
 * superuser, BYPASSRLS, a login with no sms_ role, a server that does not ask for the password)
 * and the limit on attempts; a sender-only login sees its own messages by id and no one else's.
 * The session store and the attempt limiter are also checked on an injected clock.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { connectAs, createTestDatabase, serverUrl, type TestDatabase } from '../support/db.js';
import { TestRoles, uniqueName } from '../sql/helpers.js';
import type { ConsoleHandle } from '../../src/console/server.js';
import { SessionStore } from '../../src/console/sessions.js';
import { SignInLimiter } from '../../src/console/sign-in.js';
import { captureLogger, sendAs, serverSkipsPasswords, startTestConsole } from './support.js';

let tdb: TestDatabase;
let consoleHandle: ConsoleHandle;
const roles = new TestRoles();
const password = randomBytes(8).toString('hex');
const log = captureLogger();
let reader: string;
let sender: string;
let otherSender: string;
let trust = false;
const extraRoles: string[] = [];

/** A cookie jar of one: the console sets at most the session cookie and the sign-in form's. */
class Browser {
  cookies = new Map<string, string>();
  constructor(readonly base: string) {}
  async request(path: string, init: RequestInit & { form?: Record<string, string> } = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    if (init.form) {
      headers.set('content-type', 'application/x-www-form-urlencoded');
      if (!headers.has('sec-fetch-site')) headers.set('sec-fetch-site', 'same-origin');
    }
    const res = await fetch(`${this.base}${path}`, { ...init, headers, redirect: 'manual', ...(init.form ? { method: 'POST', body: new URLSearchParams(init.form) } : {}) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [k, v] = pair!.split('=');
      if (/Max-Age=0/.test(c)) this.cookies.delete(k!);
      else this.cookies.set(k!, v!);
    }
    return res;
  }
  async signIn(user: string, pw: string): Promise<Response> {
    const form = await (await this.request('/sign-in')).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(form)![1]!;
    return this.request('/sign-in', { form: { csrf, user, password: pw, next: '' } });
  }
  /** The session's CSRF token, from any signed-in page. */
  async csrf(): Promise<string> {
    return /name="csrf" value="([^"]+)"/.exec(await (await this.request('/lookup')).text())![1]!;
  }
}

before(async () => {
  tdb = await createTestDatabase();
  await tdb.pool.query(`update sms_settings set default_sender = 'Console'`);
  reader = await roles.create({ login: password, memberOf: ['sms_reader'] });
  sender = await roles.create({ login: password, memberOf: ['sms_sender'] });
  otherSender = await roles.create({ login: password, memberOf: ['sms_sender'] });
  trust = await serverSkipsPasswords(tdb, reader);
  consoleHandle = await startTestConsole(tdb, { logger: log.logger, allowPasswordless: trust, signInLimiter: new SignInLimiter(100, 60_000) });
});

after(async () => {
  await consoleHandle?.close();
  await tdb.drop();
  await roles.dropAll();
  const admin = new pg.Client({ connectionString: serverUrl() });
  await admin.connect();
  for (const r of extraRoles) await admin.query(`drop role if exists ${r}`);
  await admin.end();
});

describe('headers, cookie and CSRF', () => {
  test('every answer carries the security headers; the session cookie is HttpOnly and SameSite=Strict', async () => {
    const b = new Browser(consoleHandle.url);
    const signIn = await b.request('/sign-in');
    assert.equal(
      signIn.headers.get('content-security-policy'),
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    assert.equal(signIn.headers.get('x-frame-options'), 'DENY');
    assert.equal(signIn.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(signIn.headers.get('cache-control'), 'no-store');
    const ok = await b.signIn(reader, password);
    assert.equal(ok.status, 303);
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith('sms_console='))!;
    assert.match(cookie, /; HttpOnly/);
    assert.match(cookie, /; SameSite=Strict/);
    const css = await b.request('/assets/console.css');
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
    assert.ok((await b.request('/')).status === 200);
    assert.ok(!log.text().includes(password), 'no log line holds a password');
  });

  test('a POST without the session token, or from another site, is refused', async () => {
    const b = new Browser(consoleHandle.url);
    await b.signIn(reader, password);
    const token = await b.csrf();
    const noToken = await b.request('/sign-out', { form: {} });
    assert.equal(noToken.status, 403);
    const wrongToken = await b.request('/sign-out', { form: { csrf: 'x'.repeat(43) } });
    assert.equal(wrongToken.status, 403);
    const crossSite = await b.request('/sign-out', { form: { csrf: token }, headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.status, 403);
    const otherOrigin = await b.request('/sign-out', { form: { csrf: token }, headers: { 'sec-fetch-site': '', origin: 'http://evil.example' } });
    assert.equal(otherOrigin.status, 403);
    assert.equal((await b.request('/')).status, 200, 'still signed in');
    const out = await b.request('/sign-out', { form: { csrf: token } });
    assert.equal(out.status, 303);
    assert.equal((await b.request('/')).status, 303, 'signed out: sent to the sign-in page');
  });

  test('cookies are Secure with the __Host- prefix behind TLS (--secure-cookies)', async () => {
    const secure = await startTestConsole(tdb, { logger: log.logger, allowPasswordless: trust, secureCookies: true });
    try {
      const b = new Browser(secure.url);
      const res = await b.request('/sign-in');
      assert.match(res.headers.getSetCookie()[0]!, /^__Host-sms_console_pre=.*; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
    } finally {
      await secure.close();
    }
  });
});

describe('sign-in', () => {
  const makeRole = async (attributes: string, memberOf = 'sms_reader') => {
    const name = uniqueName('sms_test_console');
    const admin = new pg.Client({ connectionString: serverUrl() });
    await admin.connect();
    try {
      await admin.query(`create role ${name} login password '${password}' ${attributes}`);
      if (memberOf) await admin.query(`grant ${memberOf} to ${name}`);
    } finally {
      await admin.end();
    }
    extraRoles.push(name);
    return name;
  };

  test('superusers, BYPASSRLS roles and logins with no sms_ role are refused', async () => {
    for (const [attributes, memberOf, pattern] of [
      ['superuser', 'sms_reader', /is a superuser/],
      ['bypassrls', 'sms_reader', /is a role with BYPASSRLS/],
      ['', '', /holds none of the sms-outbox roles/],
    ] as const) {
      const name = await makeRole(attributes, memberOf);
      const res = await new Browser(consoleHandle.url).signIn(name, password);
      assert.equal(res.status, 403, attributes || 'no role');
      assert.match(await res.text(), pattern);
    }
  });

  test('a server that does not ask for the password is refused, unless allowed', { skip: false }, async () => {
    if (!trust) {
      // This server checks passwords (scram-sha-256): a wrong one is refused like an unknown login.
      const wrong = await new Browser(consoleHandle.url).signIn(reader, 'wrong');
      const unknown = await new Browser(consoleHandle.url).signIn('no_such_login_here', 'wrong');
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      assert.equal(await wrong.text().then((t) => /login name or the password is wrong/.test(t)), true);
      return;
    }
    const strict = await startTestConsole(tdb, { logger: log.logger });
    try {
      const res = await new Browser(strict.url).signIn(reader, 'anything');
      assert.equal(res.status, 403);
      assert.match(await res.text(), /without checking its password \(trust or peer authentication/);
    } finally {
      await strict.close();
    }
  });

  test('after 5 failed sign-ins a login is refused for a while, even with its password', async () => {
    const limited = await startTestConsole(tdb, { logger: log.logger });
    try {
      const victim = await makeRole('', 'sms_reader');
      for (let i = 0; i < 5; i++) {
        const res = await new Browser(limited.url).signIn(victim, trust ? password : 'wrong');
        assert.ok(res.status === 401 || res.status === 403, `attempt ${i + 1}: ${res.status}`);
      }
      const blocked = await new Browser(limited.url).signIn(victim, password);
      assert.equal(blocked.status, 429);
      assert.ok(Number(blocked.headers.get('retry-after')) > 0);
      assert.match(await blocked.text(), /Too many failed sign-ins/);
    } finally {
      await limited.close();
    }
  });

  test('a sender-only login looks up its own messages by id, and no one else\'s', async () => {
    const mine = await connectAs(tdb.url, sender, password);
    const theirs = await connectAs(tdb.url, otherSender, password);
    try {
      const own = await sendAs(mine, '+79990001001', 'Mine');
      const other = await sendAs(theirs, '+79990001002', 'Theirs');
      const b = new Browser(consoleHandle.url);
      const res = await b.signIn(sender, password);
      assert.equal(res.headers.get('location'), '/lookup', 'no overview without the reader role');
      assert.equal((await b.request('/messages')).status, 403);
      const page = await b.request(`/messages/${own}`);
      assert.equal(page.status, 200);
      const text = await page.text();
      assert.match(text, /waiting for a worker to send it/);
      assert.match(text, /Cancel…/, 'its own queued message may be cancelled');
      assert.ok(!text.includes('Show text'), 'a sender cannot read bodies');
      const foreign = await b.request(`/messages/${other}`);
      assert.equal(foreign.status, 404);
      assert.match(await foreign.text(), /your login sees only the messages it sent/);
      const lookup = await b.request(`/lookup?q=${other}`);
      assert.equal(lookup.headers.get('location'), `/messages/${other}`);
      // Conversations come from sms_conversation, whose ownership rules it shares: its own
      // message is there, another sender's is not.
      assert.equal((await b.request('/lookup?q=%2B79990001001')).headers.get('location'), '/conversation?phone=79990001001');
      const conv = await (await b.request('/conversation?phone=79990001001&texts=1')).text();
      assert.match(conv, new RegExp(`data-id="${own}"`));
      assert.match(conv, />Mine</);
      const foreignConv = await b.request('/conversation?phone=79990001002&texts=1');
      assert.equal(foreignConv.status, 200);
      const foreignText = await foreignConv.text();
      assert.ok(!foreignText.includes(other) && !foreignText.includes('Theirs'), 'another sender\'s message is not in the conversation');
      assert.match(foreignText, /Nothing sent to or received from this number/);
    } finally {
      await mine.end();
      await theirs.end();
    }
  });
});

describe('on an injected clock', () => {
  test('a session ends after its idle time and its maximum age', async () => {
    let now = 1_000_000;
    const store = new SessionStore({ idleMs: 1000, maxAgeMs: 5000, max: 2 }, () => now);
    const config = { host: '127.0.0.1', port: 1 };
    const caps = {} as never;
    const a = await store.create('a', caps, config);
    now += 900;
    assert.ok(store.get(a.id), 'used within the idle time');
    now += 900;
    assert.ok(store.get(a.id));
    now += 1001;
    assert.equal(store.get(a.id), undefined, 'idle too long');
    const b = await store.create('b', caps, config);
    for (let i = 0; i < 6; i++) {
      now += 900;
      if (i < 5) assert.ok(store.get(b.id), `use ${i}`);
    }
    assert.equal(store.get(b.id), undefined, 'past the maximum age, however busy');
    const c1 = await store.create('c1', caps, config);
    now += 10;
    await store.create('c2', caps, config);
    now += 10;
    await store.create('c3', caps, config);
    assert.equal(store.get(c1.id), undefined, 'the oldest idle session made room');
    assert.equal(store.size, 2);
    await store.closeAll();
  });

  test('the attempt limiter counts per login and per address, and forgets after its window', () => {
    let now = 0;
    const l = new SignInLimiter(3, 60_000, () => now, 3);
    for (let i = 0; i < 3; i++) l.failed('Alice', '10.0.0.1');
    assert.equal(l.retryAfter('alice', '10.0.0.2'), 60, 'the login, from anywhere (names fold case)');
    assert.equal(l.retryAfter('bob', '10.0.0.1'), 60, 'the address, for any login');
    assert.equal(l.retryAfter('bob', '10.0.0.2'), 0);
    now += 30_000;
    assert.equal(l.retryAfter('alice', '10.0.0.2'), 30);
    now += 30_001;
    assert.equal(l.retryAfter('alice', '10.0.0.1'), 0);
    l.failed('carol', 'x');
    l.succeeded('carol');
    assert.equal(l.retryAfter('carol', 'y'), 0);
    const proxy = new SignInLimiter(2, 60_000, () => now);
    for (const name of ['a', 'b', 'c', 'd', 'e']) proxy.failed(name, 'proxy');
    assert.equal(proxy.retryAfter('f', 'proxy'), 0, 'an address holds six times a login\'s failures (many users behind one proxy)');
  });
});
