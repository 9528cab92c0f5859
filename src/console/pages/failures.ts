/**
 * Failures: the messages that ended badly (retry, one or a selection) and those waiting to be
 * tried again after an error (cancel), and the confirmation every action passes through.
 */
import type { Capabilities } from '../../db/console/capabilities.js';
import type { RetryingRow } from '../../db/console/failures.js';
import type { MessageListRow, Page } from '../../db/console/messages.js';
import { badge, html, phone, time, type Html } from '../html.js';
import { MESSAGE_HEADERS, messageRowHtml, pager } from './messages.js';

export type Action = 'retry' | 'cancel' | 'opt_in' | 'opt_out' | 'replay';

export const ACTION_WORDS: Record<Action, { verb: string; button: string; explain: string }> = {
  retry: { verb: 'Retry', button: 'Retry', explain: 'Each message is put back in the queue (sms_retry) and sent again; the outcome it replaces is kept.' },
  cancel: { verb: 'Cancel', button: 'Cancel them', explain: 'Each message still queued is cancelled (sms_cancel) and never sent.' },
  opt_in: { verb: 'Opt back in', button: 'Opt back in', explain: 'Marketing messages go to this number again (sms_opt_in), overriding the STOP it may have sent.' },
  opt_out: { verb: 'Opt out', button: 'Opt out', explain: 'No more marketing messages to this number (sms_opt_out).' },
  replay: { verb: 'Replay', button: 'Replay', explain: 'The parked rows are sent through the worker again (sms_inbound_replay) by its next sms_reconcile run.' },
};

export function failuresPage(ended: Page<MessageListRow>, retrying: RetryingRow[], raw: Record<string, string>, c: Capabilities, csrf: string): Html {
  const canRetry = c.retry;
  const canCancel = c.cancel;
  return html`<section aria-labelledby="h-ended"><h2 id="h-ended">Ended badly</h2>
<p>Failed, rejected, undelivered or expired, newest first.${canRetry ? (c.admin ? ' Select messages to retry them.' : ' You may retry the messages your login sent.') : ' Your login may not retry messages.'}</p>
<form class="filters" method="get" action="/failures" aria-label="Filter failures">
  <div><label for="f-fstatus">Status</label><select id="f-fstatus" name="status">
    ${['', 'failed', 'rejected', 'undelivered', 'expired'].map((s) => html`<option value="${s}"${(raw.status ?? '') === s ? html` selected` : ''}>${s || 'any of them'}</option>`)}
  </select></div>
  <div class="buttons"><button type="submit">Filter</button></div>
</form>
${canRetry ? html`<form id="bulk" method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="retry"><button type="submit">Retry selected…</button> <button type="button" class="link" data-select-all="bulk">Select all on this page</button></form>` : ''}
<table class="list" data-list="failures">
  <caption>Messages that ended badly</caption>
  <thead><tr>${canRetry ? html`<th scope="col"><span class="sr-only">Select</span></th>` : ''}${MESSAGE_HEADERS}</tr></thead>
  <tbody>${ended.rows.map((m) => messageRowHtml(m, c, { select: canRetry }))}</tbody>
</table>
${ended.rows.length === 0 ? html`<p class="empty">No message ended badly.</p>` : ''}
${pager('/failures', raw, ended)}
</section>
<section aria-labelledby="h-retrying"><h2 id="h-retrying">Waiting to be tried again</h2>
<p>Queued after an error; the worker tries each again at its time, until it is sent, expires or runs out of attempts.</p>
${canCancel ? html`<form id="bulk-cancel" method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="cancel"><button type="submit" class="danger">Cancel selected…</button></form>` : ''}
<table class="list">
  <caption>Messages waiting for another attempt, soonest first</caption>
  <thead><tr>${canCancel ? html`<th scope="col"><span class="sr-only">Select</span></th>` : ''}<th scope="col">Created (UTC)</th><th scope="col">Id</th><th scope="col">To</th><th scope="col">Owner</th><th scope="col">Attempts</th><th scope="col">Last error</th><th scope="col">Next attempt (UTC)</th><th scope="col">Expires (UTC)</th></tr></thead>
  <tbody>${retrying.map(
    (r) => html`<tr data-id="${r.id}">
    ${canCancel ? html`<td><input type="checkbox" name="id" value="${r.id}" form="bulk-cancel" aria-label="Select message to ${phone(r.recipient)} for cancelling"></td>` : ''}
    <td>${time(r.createdAt)}</td><td><a class="mono" href="/messages/${r.id}">${r.id.slice(0, 8)}…</a></td><td>${phone(r.recipient)}</td><td class="mono">${r.owner}</td>
    <td>${r.attempts}</td><td>${r.errorCode}${r.errorMessage ? html`: ${r.errorMessage}` : ''}</td><td>${time(r.nextAttemptAt)}</td><td>${time(r.expiresAt)}</td></tr>`,
  )}</tbody>
</table>
${retrying.length === 0 ? html`<p class="empty">Nothing is waiting for another attempt.</p>` : ''}
</section>`;
}

export interface ConfirmTarget {
  value: string;
  label: Html;
}

/** "Retry 3 messages?" with what they are, and the button that does it. */
export function confirmPage(action: Action, targets: ConfirmTarget[], csrf: string, back: string): Html {
  const w = ACTION_WORDS[action];
  return html`<p>${w.explain}</p>
<form method="post" action="/do">
  <input type="hidden" name="csrf" value="${csrf}">
  <input type="hidden" name="action" value="${action}">
  ${targets.map((t) => html`<input type="hidden" name="target" value="${t.value}">`)}
  <ul class="targets">${targets.map((t) => html`<li>${t.label}</li>`)}</ul>
  <button type="submit" class="${action === 'cancel' ? 'danger' : ''}" id="confirm">${w.button}</button>
  <a href="${back}">Back, do nothing</a>
</form>`;
}

export function resultPage(lines: Html[], back: string): Html {
  return html`<ul class="results">${lines.map((l) => html`<li>${l}</li>`)}</ul><p><a href="${back}">Back</a></p>`;
}

export function targetLabel(m: { id: string; recipient: string; status: string; createdAt: Date; owner: string } | undefined, id: string): Html {
  if (!m) return html`<span class="mono">${id}</span> <span class="muted">(not visible to your login)</span>`;
  return html`<a class="mono" href="/messages/${m.id}">${m.id.slice(0, 8)}…</a> to ${phone(m.recipient)}, ${badge(m.status)}, created ${time(m.createdAt)} by <span class="mono">${m.owner}</span>`;
}

