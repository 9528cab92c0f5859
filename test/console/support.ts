/**
 * The console's test rig: a migrated database with login roles, the simulator and the worker as
 * real processes, the console in this process on a free loopback port, and Debian's chromium
 * driven by playwright-core (headless, no sandbox, a fresh profile per launch). Screenshots go to
 * one directory under the system's temporary directory, printed by the tests.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { connectAs, type TestDatabase } from '../support/db.js';
import { startConsole, type ConsoleHandle, type ConsoleOptions } from '../../src/console/server.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it)`);
  // playwright-core gives each launch a fresh temporary profile (--user-data-dir), removed on close.
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true });
}

/** Where this run's screenshots go: one directory per process, under the system's tmp dir. */
export const SCREENSHOT_DIR = path.join(tmpdir(), `sms-outbox-console-screenshots-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}-${process.pid}`);

/**
 * A full-page screenshot. Chromium now and then refuses a capture ("Protocol error
 * (Page.captureScreenshot): Unable to capture screenshot", at once, not after a time-out) and
 * takes the same picture when asked again: seen once in a CI run under stress-ng. That refusal is
 * asked again, twice at most; any other error fails the test.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  for (let attempt = 1; ; attempt++) {
    try {
      await page.screenshot({ path: file, fullPage: true });
      return file;
    } catch (err) {
      if (attempt >= 3 || !/Unable to capture screenshot/.test((err as Error).message)) throw err;
    }
  }
}

/** Log lines the console wrote, parsed (to check that none holds a body or a code). */
export function captureLogger(): { logger: pino.Logger; lines: Record<string, unknown>[]; text: () => string } {
  const lines: Record<string, unknown>[] = [];
  let raw = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      raw += chunk.toString();
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines, text: () => raw };
}

/** Whether the server lets a login in with a wrong password (trust authentication). */
export async function serverSkipsPasswords(tdb: TestDatabase, login: string): Promise<boolean> {
  try {
    const c = await connectAs(tdb.url, login, `wrong-${randomBytes(4).toString('hex')}`);
    await c.end();
    return true;
  } catch {
    return false;
  }
}

export async function startTestConsole(tdb: TestDatabase, options: Partial<ConsoleOptions> & { logger: pino.Logger }): Promise<ConsoleHandle> {
  return startConsole({ databaseUrl: tdb.url, host: '127.0.0.1', port: 0, liveTickMs: 500, ...options });
}

/** Signs in through the form; resolves on the page signed in (the overview, or the lookup for a login without the reader role). */
export async function signInAs(page: Page, base: string, user: string, password: string): Promise<void> {
  await page.goto(`${base}/sign-in`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForNavigation(), page.click('form.sign-in button[type=submit]')]);
}

/** Resolves once the page's event stream is listening (so no event is sent before it can be heard). */
export async function liveReady(page: Page): Promise<void> {
  await page.waitForFunction(() => (globalThis as any).document.body.dataset.liveReady === '1', undefined, { timeout: 15_000 });
}

/** Runs axe-core in the page; returns the serious and critical violations. */
export async function accessibilityProblems(page: Page): Promise<string[]> {
  const axe = (await import('axe-core')).default as unknown as { source: string };
  // Evaluated through the DevTools protocol: the console's CSP (script-src 'self') rightly refuses an inline script tag.
  await page.evaluate(axe.source);
  const result = await page.evaluate(async () => {
    const g = globalThis as any;
    const r = (await g.axe.run(g.document, { resultTypes: ['violations'] })) as { violations: { id: string; impact: string; help: string; nodes: { target: string[] }[] }[] };
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.join('; ')})`);
}

export async function sendAs(c: pg.ClientBase, recipient: string, body: string, extra = ''): Promise<string> {
  return (await c.query<{ id: string }>(`select sms_send($1, $2${extra}) as id`, [recipient, body])).rows[0]!.id;
}
