/** The console's pages and the fragments live updates fetch; every query runs as the signed-in login. */
import type { Context, Hono } from 'hono';
import { inboxText, listInbox, readConversation } from '../db/console/inbox.js';
import { listRetrying } from '../db/console/failures.js';
import { listOptOuts, listParked, optOutLog, optOutStats, signInCodes, signInRefusals } from '../db/console/lists.js';
import { explainMessage, listMessages, messageRow, messageText, type MessageFilter } from '../db/console/messages.js';
import { readOverview, readThroughput } from '../db/console/overview.js';
import { listWorkers } from '../db/workers.js';
import type { Logger } from '../logger.js';
import type { Env } from './app.js';
import { href, html, phone, type Html } from './html.js';
import { notice, page, send } from './layout.js';
import { BadParameter, messageFilter, phoneDigits, UUID, utcTime, uuidParam } from './params.js';
import { failuresPage } from './pages/failures.js';
import { conversationPage, inboxPage, inboxRowHtml } from './pages/inbox.js';
import { messageNotFound, textValue, trailHtml } from './pages/message.js';
import { messageRowHtml, messagesPage } from './pages/messages.js';
import { optOutsPage, parkedPage, phoneSignInPage } from './pages/operations.js';
import { overviewLive } from './pages/overview.js';

const PAGE_SIZE = 50;

type C = Context<Env>;

function query(c: C): Record<string, string> {
  return c.req.query() as Record<string, string>;
}

function show(c: C, title: string, section: string, body: Html, live?: string) {
  const s = c.get('session');
  return send(c, page({ title, section, capabilities: s.capabilities, csrf: s.csrf, body, ...(live ? { live } : {}) }));
}

function refusedPage(c: C, title: string, section: string, what: string) {
  return send(c, 
    page({ title, section, capabilities: c.get('session').capabilities, csrf: c.get('session').csrf, body: notice('problem', `Your login may not read ${what}.`) }),
    403,
  );
}

/** A query that may run past statement_timeout: its answer, or a sentence saying it did not finish. */
async function orTooSlow<T>(work: Promise<T>, what: string, timeoutMs: number): Promise<T | string> {
  try {
    return await work;
  } catch (err) {
    if ((err as { code?: string }).code === '57014') return `${what}: not counted, it took longer than ${timeoutMs / 1000} s.`;
    throw err;
  }
}

export function pageRoutes(app: Hono<Env>, o: { statementTimeoutMs: number; log: Logger }): void {
  const overview = async (c: C) => {
    const s = c.get('session');
    const [ov, minutes, workers] = await Promise.all([
      readOverview(s.db),
      orTooSlow(readThroughput(s.db), 'Throughput', o.statementTimeoutMs),
      s.capabilities.readWorkers ? listWorkers(s.db) : Promise.resolve(null),
    ]);
    return overviewLive(ov, minutes, workers);
  };

  app.get('/', async (c) => {
    if (!c.get('session').capabilities.readMessages) return c.redirect('/lookup', 303);
    return show(c, 'Overview', 'overview', await overview(c), 'overview');
  });
  app.get('/overview/live', async (c) => send(c, await overview(c)));

  app.get('/lookup', async (c) => {
    const s = c.get('session');
    const q = (c.req.query('q') ?? '').trim();
    if (UUID.test(q)) return c.redirect(`/messages/${q.toLowerCase()}`, 303);
    if (q) {
      try {
        const p = phoneDigits(q);
        if (s.capabilities.conversationFunction) return c.redirect(href('/conversation', { phone: p }), 303);
      } catch {
        // neither: say so below
      }
    }
    return show(
      c,
      'Find a message',
      '',
      html`${q ? notice('problem', html`"${q}" is neither a message id nor a phone number in international form.`) : ''}
<p>${s.capabilities.readMessages ? 'Enter a message id (from sms_send) or a phone number.' : s.capabilities.conversationFunction ? 'Your login sees the messages it sent: enter the id sms_send returned, or a phone number for your conversation with it.' : 'Your login sees the messages it sent: enter the id sms_send returned.'}</p>
<form method="get" action="/lookup" role="search"><label for="q2">Message id${s.capabilities.conversationFunction ? ' or phone' : ''}</label> <input id="q2" name="q" required> <button type="submit">Find</button></form>`,
    );
  });

  app.get('/messages', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.readMessages) return refusedPage(c, 'Messages', 'messages', 'sms_outbox (the reader role may); look a message up by its id instead');
    const q = query(c);
    const { filter, raw } = messageFilter(q);
    const before = uuidParam('before', q.before);
    const after = uuidParam('after', q.after);
    const result = await listMessages(s.db, filter, { ...(before ? { before } : {}), ...(after ? { after } : {}), limit: PAGE_SIZE });
    const newest = !before && !after;
    return show(c, 'Messages', 'messages', messagesPage(raw, result, s.capabilities, newest), 'messages');
  });

  // Rows newer than `after` matching the filters: what a live list prepends.
  app.get('/messages/rows', async (c) => {
    const s = c.get('session');
    const q = query(c);
    const { filter } = messageFilter(q);
    const after = uuidParam('after', q.after);
    const result = await listMessages(s.db, filter as MessageFilter, { ...(after ? { after } : {}), limit: PAGE_SIZE });
    return send(c, html`${result.rows.map((m) => messageRowHtml(m, s.capabilities))}`);
  });

  app.get('/messages/:id/row', async (c) => {
    const s = c.get('session');
    const id = uuidParam('id', c.req.param('id'))!;
    const row = await messageRow(s.db, id);
    return row ? send(c, messageRowHtml(row, s.capabilities, { select: c.req.query('select') === '1' })) : c.body(null, 204);
  });

  app.get('/messages/:id/text', async (c) => {
    const s = c.get('session');
    const id = uuidParam('id', c.req.param('id'))!;
    const text = await messageText(s.db, id);
    if (text.kind === 'text') o.log.info({ login: s.login, message: id }, 'console: message text shown');
    return send(c, textValue(text));
  });

  const trail = async (c: C, withText: boolean) => {
    const s = c.get('session');
    const id = uuidParam('id', c.req.param('id'))!;
    const t = await explainMessage(s.db, id);
    if (!t) return { id, html: null };
    let text = null;
    if (withText && s.capabilities.readMessages && t.via !== 'supabase_auth_hook') {
      text = await messageText(s.db, id);
      if (text.kind === 'text') o.log.info({ login: s.login, message: id }, 'console: message text shown');
    }
    return { id, html: trailHtml(t, s.capabilities, s.csrf, text) };
  };

  app.get('/messages/:id', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.explain) return refusedPage(c, 'Message', 'messages', 'sms_explain (the sender and reader roles may)');
    const r = await trail(c, c.req.query('text') === '1');
    if (!r.html) return send(c, page({ title: 'Message', section: 'messages', capabilities: s.capabilities, csrf: s.csrf, body: messageNotFound(r.id, s.capabilities) }), 404);
    return show(c, 'Message', 'messages', r.html, 'message');
  });

  app.get('/messages/:id/trail', async (c) => {
    const r = await trail(c, false);
    return r.html ? send(c, r.html) : c.body(null, 204);
  });

  app.get('/failures', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.readMessages) return refusedPage(c, 'Failures', 'failures', 'sms_outbox (the reader role may)');
    const q = query(c);
    const status = q.status && ['failed', 'rejected', 'undelivered', 'expired'].includes(q.status) ? q.status : undefined;
    if (q.status && !status) throw new BadParameter(`status: "${q.status.slice(0, 20)}" is failed, rejected, undelivered or expired`);
    const raw: Record<string, string> = status ? { status } : {};
    const before = uuidParam('before', q.before);
    const after = uuidParam('after', q.after);
    const [ended, retrying] = await Promise.all([
      listMessages(s.db, { status: (status as MessageFilter['status']) ?? 'ended_badly' }, { ...(before ? { before } : {}), ...(after ? { after } : {}), limit: PAGE_SIZE }),
      listRetrying(s.db, PAGE_SIZE),
    ]);
    return show(c, 'Failures', 'failures', failuresPage(ended, retrying, raw, s.capabilities, s.csrf), 'failures');
  });

  app.get('/inbox', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.readInbox) return refusedPage(c, 'Inbox', 'inbox', 'sms_inbox (the reader role may)');
    const q = query(c);
    const raw: Record<string, string> = q.sender ? { sender: q.sender } : {};
    const sender = q.sender ? phoneDigits(q.sender) : undefined;
    const before = uuidParam('before', q.before);
    const after = uuidParam('after', q.after);
    const result = await listInbox(s.db, sender ? { sender } : {}, { ...(before ? { before } : {}), ...(after ? { after } : {}), limit: PAGE_SIZE });
    return show(c, 'Inbox', 'inbox', inboxPage(raw, result, !before && !after), 'inbox');
  });

  app.get('/inbox/rows', async (c) => {
    const s = c.get('session');
    const q = query(c);
    const sender = q.sender ? phoneDigits(q.sender) : undefined;
    const after = uuidParam('after', q.after);
    const result = await listInbox(s.db, sender ? { sender } : {}, { ...(after ? { after } : {}), limit: PAGE_SIZE });
    return send(c, html`${result.rows.map(inboxRowHtml)}`);
  });

  app.get('/inbox/:id/text', async (c) => {
    const s = c.get('session');
    const id = uuidParam('id', c.req.param('id'))!;
    const t = await inboxText(s.db, id);
    if (t && !t.redacted) o.log.info({ login: s.login, inbox: id }, 'console: incoming text shown');
    return send(c, t ? (t.redacted ? html`<span class="muted">redacted</span>` : html`<span class="body-text">${t.text}</span>`) : html`<span class="muted">not found</span>`);
  });

  // Both directions with one number, through public.sms_conversation(phone): a reader sees every
  // row, any other login its own messages and the answers to them.
  const conversation = async (c: C) => {
    const s = c.get('session');
    const q = query(c);
    const p = phoneDigits(q.phone ?? '');
    const withTexts = q.texts === '1';
    const before = q.before ? utcTime('before', q.before) : undefined;
    const conv = await readConversation(s.db, p, { withTexts, limit: 100, ...(before ? { before } : {}) });
    if (withTexts) o.log.info({ login: s.login, phone: p }, 'console: conversation texts shown');
    return conversationPage(conv, withTexts, s.capabilities);
  };

  app.get('/conversation', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.conversationFunction) return refusedPage(c, 'Conversation', 'inbox', 'conversations (EXECUTE on sms_conversation: the sender and reader roles may)');
    return show(c, `Conversation with ${phone(phoneDigits(c.req.query('phone') ?? ''))}`, 'inbox', await conversation(c), 'conversation');
  });
  app.get('/conversation/live', async (c) => send(c, await conversation(c)));

  app.get('/opt-outs', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.readOptOuts) return refusedPage(c, 'Opt-outs', 'opt-outs', 'sms_opt_out (the reader role may)');
    const q = query(c);
    const recipient = q.recipient ? phoneDigits(q.recipient) : undefined;
    const before = q.before_at && q.before_recipient ? { at: utcTime('before_at', q.before_at), recipient: phoneDigits(q.before_recipient) } : undefined;
    const [rows, log, stats] = await Promise.all([
      listOptOuts(s.db, { ...(recipient ? { recipient } : {}), limit: PAGE_SIZE + 1, ...(before ? { before } : {}) }),
      optOutLog(s.db, { ...(recipient ? { recipient } : {}), limit: 20 }),
      optOutStats(s.db),
    ]);
    const more = rows.length > PAGE_SIZE;
    if (more) rows.pop();
    const last = rows.at(-1);
    const next = more && last ? href('/opt-outs', { before_at: last.optedOutAt.toISOString(), before_recipient: last.recipient }) : undefined;
    return show(c, 'Opt-outs', 'opt-outs', optOutsPage(rows, log, stats, recipient ? { recipient } : {}, s.capabilities, s.csrf, next));
  });

  app.get('/parked', async (c) => {
    const s = c.get('session');
    if (!s.capabilities.readParked) return refusedPage(c, 'Parked inbound', 'parked', 'sms_inbound_parked (the reader role may)');
    return show(c, 'Parked inbound', 'parked', parkedPage(await listParked(s.db, 200), s.capabilities, s.csrf));
  });

  app.get('/phone-sign-in', async (c) => {
    const s = c.get('session');
    const [refusals, codes] = await Promise.all([
      s.capabilities.readRefusals ? signInRefusals(s.db) : Promise.resolve(null),
      s.capabilities.readSignInCodes ? signInCodes(s.db, PAGE_SIZE) : Promise.resolve(null),
    ]);
    return show(c, 'Phone sign-in', 'phone-sign-in', phoneSignInPage(refusals, codes));
  });
}
