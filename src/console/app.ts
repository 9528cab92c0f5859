/**
 * The console's HTTP application (Hono): security headers on every answer, the sign-in and the
 * session cookie, CSRF checks on every POST, the assets it serves itself, the live event stream,
 * and the pages (routes-pages.ts) and actions (routes-actions.ts).
 */
import { readFileSync } from 'node:fs';
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Logger } from '../logger.js';
import { bare, notice, send } from './layout.js';
import { html } from './html.js';
import { LiveFeed, type LiveEvent } from './live.js';
import { SessionStore, type Session } from './sessions.js';
import { signIn, SignInLimiter, token } from './sign-in.js';
import { BadParameter } from './params.js';
import { pageRoutes } from './routes-pages.js';
import { actionRoutes } from './routes-actions.js';

export interface ConsoleAppOptions {
  databaseUrl: string;
  logger: Logger;
  /** Cookies only over HTTPS (behind a TLS reverse proxy). */
  secureCookies: boolean;
  statementTimeoutMs: number;
  idleMs: number;
  maxAgeMs: number;
  maxSessions: number;
  /** How often open pages look for messages still queued (ms). */
  liveTickMs: number;
  allowPasswordless: boolean;
  signInLimiter?: SignInLimiter;
}

export type Env = { Variables: { session: Session } };

const ASSETS_DIR = new URL('../../assets/console/', import.meta.url);
const ASSETS: Record<string, { type: string; body: string }> = {
  'console.css': { type: 'text/css; charset=utf-8', body: readFileSync(new URL('console.css', ASSETS_DIR), 'utf8') },
  'console.js': { type: 'text/javascript; charset=utf-8', body: readFileSync(new URL('console.js', ASSETS_DIR), 'utf8') },
};

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function sameToken(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface ConsoleApp {
  app: Hono<Env>;
  sessions: SessionStore;
  close(): Promise<void>;
}

export function createConsoleApp(o: ConsoleAppOptions): ConsoleApp {
  const app = new Hono<Env>();
  const sessions = new SessionStore({ idleMs: o.idleMs, maxAgeMs: o.maxAgeMs, max: o.maxSessions });
  const limiter = o.signInLimiter ?? new SignInLimiter();
  const feeds = new WeakMap<Session, LiveFeed>();
  const log = o.logger;
  const cookieName = o.secureCookies ? '__Host-sms_console' : 'sms_console';
  const preCookie = o.secureCookies ? '__Host-sms_console_pre' : 'sms_console_pre';
  const cookieOptions = { httpOnly: true, sameSite: 'Strict' as const, path: '/', secure: o.secureCookies };

  const address = (c: Context) => {
    try {
      return getConnInfo(c).remote.address ?? 'unknown';
    } catch {
      return 'unknown';
    }
  };

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    // How long the console took (queries and rendering), for the operator's browser tools and bench:console.
    if (!c.req.path.startsWith('/events')) c.header('Server-Timing', `app;dur=${(performance.now() - started).toFixed(1)}`);
    c.header('Content-Security-Policy', CSP);
    c.header('X-Content-Type-Options', 'nosniff');
    c.header('X-Frame-Options', 'DENY');
    // Message ids are in URLs: never sent to another site. (no-referrer would also blank the
    // Origin of the console's own form posts.)
    c.header('Referrer-Policy', 'same-origin');
    c.header('Cross-Origin-Opener-Policy', 'same-origin');
    c.header('Cross-Origin-Resource-Policy', 'same-origin');
    if (!c.req.path.startsWith('/assets/')) c.header('Cache-Control', 'no-store');
  });

  // Every POST comes from this console's own pages: the browser says so (Sec-Fetch-Site,
  // Origin), and the form carries the token of the session (or, before sign-in, of the sign-in
  // form's own cookie).
  app.use('*', async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const site = c.req.header('sec-fetch-site');
    if (site && site !== 'same-origin' && site !== 'none') return send(c, bare('Refused', notice('problem', 'This request did not come from the console’s own pages.')), 403);
    // Without Sec-Fetch-Site (older browsers), the Origin must name this host.
    const origin = c.req.header('origin');
    const host = c.req.header('x-forwarded-host') ?? c.req.header('host');
    if (!site && origin && host && originHost(origin) !== host) {
      return send(c, bare('Refused', notice('problem', 'This request came from another site.')), 403);
    }
    return next();
  });

  app.get('/assets/:name', (c) => {
    const asset = ASSETS[c.req.param('name')];
    if (!asset) return c.notFound();
    c.header('Cache-Control', 'private, max-age=3600');
    return c.body(asset.body, 200, { 'Content-Type': asset.type });
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/favicon.ico', (c) => c.body(null, 204));

  const signInForm = (c: Context, message?: string, status: 200 | 400 | 401 | 403 | 429 | 503 = 200) => {
    // One token per browser, kept while the form may be open in several tabs.
    const existing = getCookie(c, preCookie);
    const pre = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : token();
    setCookie(c, preCookie, pre, { ...cookieOptions, maxAge: 3600 });
    const next = c.req.query('next') ?? '';
    return send(c, 
      bare(
        'Sign in',
        html`${message ? notice('problem', message) : ''}
<p>Sign in with your own Postgres login. What you see and may do is what Postgres grants that login: <code>sms_reader</code> to see every message, <code>sms_sender</code> to act on your own.</p>
<form method="post" action="/sign-in" class="sign-in">
  <input type="hidden" name="csrf" value="${pre}">
  <input type="hidden" name="next" value="${next.startsWith('/') && !next.startsWith('//') ? next : ''}">
  <div><label for="user">Postgres login</label><input id="user" name="user" autocomplete="username" required autofocus></div>
  <div><label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required></div>
  <button type="submit">Sign in</button>
</form>`,
      ),
      status,
    );
  };

  app.get('/sign-in', (c) => signInForm(c));

  app.post('/sign-in', async (c) => {
    const form = await c.req.parseBody();
    const user = typeof form.user === 'string' ? form.user.trim() : '';
    const password = typeof form.password === 'string' ? form.password : '';
    if (!sameToken(typeof form.csrf === 'string' ? form.csrf : undefined, getCookie(c, preCookie) ?? '\0')) {
      return signInForm(c, 'The sign-in form expired: please sign in again.', 400);
    }
    const from = address(c);
    const wait = limiter.retryAfter(user, from);
    if (wait > 0) {
      log.warn({ login: user.slice(0, 63), from }, 'console sign-in refused: too many failed attempts');
      c.header('Retry-After', String(wait));
      return signInForm(c, `Too many failed sign-ins. Try again in ${Math.ceil(wait / 60)} min.`, 429);
    }
    const result = await signIn(o.databaseUrl, user, password, { allowPasswordless: o.allowPasswordless, statementTimeoutMs: o.statementTimeoutMs });
    if (!result.ok) {
      if (result.reason !== 'unavailable') limiter.failed(user, from);
      log.warn({ login: user.slice(0, 63), from, reason: result.reason }, 'console sign-in refused');
      return signInForm(c, result.message, result.status);
    }
    limiter.succeeded(user);
    const session = await sessions.create(result.login, result.capabilities, result.config);
    deleteCookie(c, preCookie, { path: '/', secure: o.secureCookies });
    setCookie(c, cookieName, session.id, { ...cookieOptions, maxAge: Math.floor(o.maxAgeMs / 1000) });
    log.info({ login: result.login, from }, 'console sign-in');
    const next = typeof form.next === 'string' && form.next.startsWith('/') && !form.next.startsWith('//') ? form.next : '/';
    return c.redirect(next === '/' && !result.capabilities.readMessages ? '/lookup' : next, 303);
  });

  // Everything below needs a session.
  app.use('*', async (c, next) => {
    const session = sessions.get(getCookie(c, cookieName));
    if (!session) {
      if (c.req.method === 'GET' && !c.req.header('x-console-fragment') && c.req.path !== '/events') {
        return c.redirect(`/sign-in?next=${encodeURIComponent(c.req.path + (new URL(c.req.url).search || ''))}`, 303);
      }
      return c.text('signed out: sign in again', 401);
    }
    if (c.req.method === 'POST') {
      const form = await c.req.parseBody({ all: true });
      if (!sameToken(typeof form.csrf === 'string' ? form.csrf : undefined, session.csrf)) {
        log.warn({ login: session.login, path: c.req.path }, 'console: POST without the session token refused');
        return send(c, bare('Refused', notice('problem', 'This form is out of date (or did not come from the console): reload the page and try again.')), 403);
      }
    }
    c.set('session', session);
    return next();
  });

  app.post('/sign-out', async (c) => {
    const s = c.get('session');
    await sessions.end(s.id);
    deleteCookie(c, cookieName, { path: '/', secure: o.secureCookies });
    log.info({ login: s.login }, 'console sign-out');
    return c.redirect('/sign-in', 303);
  });

  app.get('/events', (c) => {
    const s = c.get('session');
    let feed = feeds.get(s);
    if (!feed) {
      const f = new LiveFeed(s.config, log, o.liveTickMs);
      feeds.set(s, f);
      s.onEnd.push(() => f.close());
      feed = f;
    }
    const live = feed;
    return streamSSE(c, async (stream) => {
      const queue: LiveEvent[] = [];
      let wake: (() => void) | undefined;
      const unsubscribe = live.subscribe((e) => {
        queue.push(e);
        wake?.();
      });
      stream.onAbort(() => {
        unsubscribe();
        wake?.();
      });
      await live.ready();
      await stream.writeSSE({ event: 'ready', data: JSON.stringify({ listening: live.listening }) });
      while (!stream.aborted && !stream.closed) {
        const e = queue.shift();
        if (e) {
          await stream.writeSSE({ event: e.type, data: JSON.stringify(e) });
          continue;
        }
        // Wait for an event, or send a comment every 20 s so proxies keep the stream open.
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 20_000).unref();
        });
        wake = undefined;
        if (!queue.length && !stream.aborted) await stream.write(': keep-alive\n\n');
      }
      unsubscribe();
    });
  });

  pageRoutes(app, { statementTimeoutMs: o.statementTimeoutMs, log });
  actionRoutes(app, { log });

  app.onError((err, c) => {
    const e = err as Error & { code?: string };
    if (err instanceof BadParameter) return send(c, bare('Bad request', notice('problem', e.message)), 400);
    if (e.code === '42501') return send(c, bare('Not allowed', notice('problem', `Postgres refused this for your login: ${e.message}.`)), 403);
    if (e.code === '57014') {
      return send(c, bare('Too slow', notice('problem', `The query took longer than ${o.statementTimeoutMs / 1000} s (statement_timeout) and was stopped: narrow the filter.`)), 503);
    }
    if (e.code && /^(08|57P)/.test(e.code)) return send(c, bare('Database unavailable', notice('problem', 'The database cannot be reached right now. Try again in a moment.')), 503);
    log.error({ err: { message: e.message, code: e.code, stack: e.stack } }, 'console: request failed');
    return send(c, bare('Error', notice('problem', 'Something went wrong; it is in the console’s log.')), 500);
  });

  return { app, sessions, close: () => sessions.closeAll() };
}
