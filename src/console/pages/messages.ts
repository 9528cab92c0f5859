/** The messages list (filters in the URL, keyset pages) and its rows, also sent alone for live updates. */
import type { Capabilities } from '../../db/console/capabilities.js';
import type { MessageListRow, Page } from '../../db/console/messages.js';
import { MESSAGE_STATUSES } from '../../db/schema.js';
import { badge, href, html, phone, time, type Html } from '../html.js';

/** The text cell: a reveal link, or why there is none. */
export function textCell(id: string, row: { signInCode: boolean; redacted: boolean }, c: Capabilities): Html {
  if (row.signInCode) return html`<span class="muted">sign-in code, never shown</span>`;
  if (row.redacted) return html`<span class="muted">redacted</span>`;
  if (!c.readMessages) return html`<span class="muted">–</span>`;
  return html`<a class="reveal" href="/messages/${id}?text=1" data-reveal="/messages/${id}/text">Show text</a>`;
}

export function messageRowHtml(m: MessageListRow, c: Capabilities, options: { select?: boolean } = {}): Html {
  return html`<tr data-id="${m.id}">
  ${options.select ? html`<td><input type="checkbox" name="id" value="${m.id}" form="bulk" aria-label="Select message to ${phone(m.recipient)} of ${m.createdAt.toISOString()}"></td>` : ''}
  <td>${time(m.createdAt)}</td>
  <td><a href="/messages/${m.id}" class="mono">${m.id.slice(0, 8)}…</a></td>
  <td><a href="${href('/messages', { recipient: m.recipient })}">${phone(m.recipient)}</a></td>
  <td>${badge(m.status)}</td>
  <td>${m.segments} × ${m.encoding === 'ucs2' ? 'UCS-2' : 'GSM-7'}</td>
  <td class="mono">${m.owner}</td>
  <td>${m.category}</td>
  <td>${m.errorCode ?? m.receiptState ?? ''}</td>
  <td class="text">${textCell(m.id, m, c)}</td>
</tr>`;
}

export const MESSAGE_HEADERS = html`<th scope="col">Created (UTC)</th><th scope="col">Id</th><th scope="col">To</th><th scope="col">Status</th><th scope="col">Parts</th><th scope="col">Owner</th><th scope="col">Category</th><th scope="col">Error or receipt</th><th scope="col">Text</th>`;

function option(value: string, label: string, current: string | undefined): Html {
  return html`<option value="${value}"${value === (current ?? '') ? html` selected` : ''}>${label}</option>`;
}

export function messageFilterForm(raw: Record<string, string>): Html {
  return html`<form class="filters" method="get" action="/messages" aria-label="Filter messages">
  <div><label for="f-status">Status</label>
    <select id="f-status" name="status">${option('', 'any', raw.status)}${option('ended_badly', 'ended badly', raw.status)}${MESSAGE_STATUSES.map((s) => option(s, s, raw.status))}</select></div>
  <div><label for="f-recipient">Recipient</label><input id="f-recipient" name="recipient" value="${raw.recipient ?? ''}" placeholder="+79991234567" inputmode="tel"></div>
  <div><label for="f-from">From (UTC)</label><input id="f-from" name="from" type="datetime-local" value="${raw.from ?? ''}"></div>
  <div><label for="f-to">To (UTC)</label><input id="f-to" name="to" type="datetime-local" value="${raw.to ?? ''}"></div>
  <div><label for="f-category">Category</label>
    <select id="f-category" name="category">${option('', 'any', raw.category)}${option('transactional', 'transactional', raw.category)}${option('marketing', 'marketing', raw.category)}</select></div>
  <div><label for="f-owner">Owner</label><input id="f-owner" name="owner" value="${raw.owner ?? ''}" placeholder="my_app"></div>
  <div class="buttons"><button type="submit">Filter</button> <a href="/messages">Clear</a></div>
</form>`;
}

export function pager(path: string, raw: Record<string, string>, page: Page<{ id: string }>): Html {
  const first = page.rows[0]?.id;
  const last = page.rows.at(-1)?.id;
  return html`<nav class="pager" aria-label="Pages">
  ${page.hasNewer && first ? html`<a href="${href(path, { ...raw, after: first })}" rel="prev">← Newer</a>` : html`<span class="muted">Newest</span>`}
  ${page.hasOlder && last ? html`<a href="${href(path, { ...raw, before: last })}" rel="next">Older →</a>` : html`<span class="muted">Oldest</span>`}
</nav>`;
}

export function messagesPage(raw: Record<string, string>, page: Page<MessageListRow>, c: Capabilities, newest: boolean): Html {
  return html`${messageFilterForm(raw)}
<table class="list" data-list="messages" data-newest="${newest ? '1' : '0'}" data-query="${new URLSearchParams(raw).toString()}">
  <caption>Messages, newest first${newest ? ' (new ones appear at the top while live)' : ''}</caption>
  <thead><tr>${MESSAGE_HEADERS}</tr></thead>
  <tbody>${page.rows.map((m) => messageRowHtml(m, c))}</tbody>
</table>
${page.rows.length === 0 ? html`<p class="empty">No message matches.</p>` : ''}
${pager('/messages', raw, page)}`;
}
