/**
 * Actions: every button posts to /confirm, which shows what will be done and to what; only the
 * confirmation's own button posts to /do, which makes the SQL API calls as the signed-in login.
 * Postgres has the last word: a call the login may not make is refused there (42501: 403).
 */
import type { Context, Hono } from 'hono';
import { cancelMessages, changeOptOut, replayParked, retryMessages } from '../db/console/actions.js';
import { explainMessage, messageRow } from '../db/console/messages.js';
import type { Logger } from '../logger.js';
import type { Env } from './app.js';
import { badge, href, html, phone, type Html } from './html.js';
import { page, send } from './layout.js';
import { ACTION_WORDS, confirmPage, resultPage, targetLabel, type Action } from './pages/failures.js';
import { BadParameter, phoneDigits, uuidParam } from './params.js';

const MAX_TARGETS = 500;

type C = Context<Env>;

function values(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).filter((x): x is string => typeof x === 'string');
}

function actionOf(v: unknown): Action {
  if (typeof v === 'string' && v in ACTION_WORDS) return v as Action;
  throw new BadParameter('action: not one the console knows');
}

function backFor(action: Action, first?: string): string {
  if (action === 'opt_in' || action === 'opt_out') return first ? href('/opt-outs', { recipient: first }) : '/opt-outs';
  if (action === 'replay') return '/parked';
  return '/failures';
}

async function messageLabel(c: C, id: string): Promise<Html> {
  const s = c.get('session');
  if (s.capabilities.readMessages) return targetLabel((await messageRow(s.db, id)) ?? undefined, id);
  const t = await explainMessage(s.db, id);
  return targetLabel(t ? { id: t.id, recipient: t.recipient, status: t.status, createdAt: new Date(t.created_at), owner: t.owner } : undefined, id);
}

/** The targets of a form: message ids, numbers, or parked row ids ("all" for every one). */
function targetsOf(action: Action, form: Record<string, unknown>, field: 'id' | 'target'): string[] {
  const raw = field === 'id' && (action === 'opt_in' || action === 'opt_out') ? values(form.number) : values(form[field]);
  if (!raw.length) throw new BadParameter(action === 'opt_in' || action === 'opt_out' ? 'enter a number' : 'select at least one');
  if (raw.length > MAX_TARGETS) throw new BadParameter(`at most ${MAX_TARGETS} at once`);
  if (action === 'retry' || action === 'cancel') return raw.map((id) => uuidParam('id', id)!);
  if (action === 'opt_in' || action === 'opt_out') return raw.map(phoneDigits);
  return raw.map((id) => {
    if (id !== 'all' && !/^[0-9]{1,18}$/.test(id)) throw new BadParameter('id: not a parked row');
    return id;
  });
}

export function actionRoutes(app: Hono<Env>, o: { log: Logger }): void {
  app.post('/confirm', async (c) => {
    const s = c.get('session');
    const form = (await c.req.parseBody({ all: true })) as Record<string, unknown>;
    const action = actionOf(form.action);
    const targets = targetsOf(action, form, 'id');
    const labels = await Promise.all(
      targets.map(async (t) => ({
        value: t,
        label:
          action === 'retry' || action === 'cancel'
            ? await messageLabel(c, t)
            : action === 'replay'
              ? t === 'all'
                ? html`every parked row`
                : html`parked row ${t}`
              : html`${phone(t)}`,
      })),
    );
    const w = ACTION_WORDS[action];
    const title = `${w.verb} ${targets.length === 1 ? (action === 'retry' || action === 'cancel' ? 'this message' : targets[0] === 'all' ? 'all' : 'this') : `${targets.length} messages`}?`;
    return send(c, page({ title, section: '', capabilities: s.capabilities, csrf: s.csrf, body: confirmPage(action, labels, s.csrf, backFor(action, targets[0])) }));
  });

  app.post('/do', async (c) => {
    const s = c.get('session');
    const form = (await c.req.parseBody({ all: true })) as Record<string, unknown>;
    const action = actionOf(form.action);
    const targets = targetsOf(action, form, 'target');
    const lines: Html[] = [];
    if (action === 'retry' || action === 'cancel') {
      const done = action === 'retry' ? await retryMessages(s.db, targets) : await cancelMessages(s.db, targets);
      for (const [id, ok] of done) {
        lines.push(
          ok
            ? html`<a class="mono" href="/messages/${id}">${id.slice(0, 8)}…</a> ${action === 'retry' ? html`is queued again ${badge('queued')}` : html`${badge('cancelled')}`}`
            : html`<a class="mono" href="/messages/${id}">${id.slice(0, 8)}…</a> not ${action === 'retry' ? 'retried' : 'cancelled'}: ${
                action === 'retry'
                  ? 'it is not failed, rejected, undelivered or expired (any more), its text was redacted, or it is not your login’s to retry'
                  : 'it is not queued (any more), or it is not your login’s to cancel'
              }`,
        );
      }
      o.log.info({ login: s.login, action, messages: [...done].map(([id, ok]) => ({ id, ok })) }, 'console action');
    } else if (action === 'opt_in' || action === 'opt_out') {
      for (const number of targets) {
        const changed = await changeOptOut(s.db, action, number);
        lines.push(html`${phone(number)}: ${changed ? (action === 'opt_in' ? 'opted back in' : 'opted out') : action === 'opt_in' ? 'was not opted out' : 'was already opted out'}`);
        o.log.info({ login: s.login, action, recipient: number, changed }, 'console action');
      }
    } else {
      for (const id of targets) {
        const marked = await replayParked(s.db, id === 'all' ? null : id);
        lines.push(html`${id === 'all' ? 'every parked row' : `parked row ${id}`}: ${marked} marked for replay; the worker's next sms_reconcile run stores ${marked === 1 ? 'it' : 'them'}`);
        o.log.info({ login: s.login, action, parked: id, marked }, 'console action');
      }
    }
    return send(c, page({ title: `${ACTION_WORDS[action].verb}: done`, section: '', capabilities: s.capabilities, csrf: s.csrf, body: resultPage(lines, backFor(action, targets[0])) }));
  });
}
