/** The inbox (incoming SMS, newest first) and the conversation with one number (oldest first). */
import type { Capabilities } from '../../db/console/capabilities.js';
import type { Conversation, InboxRow } from '../../db/console/inbox.js';
import type { Page } from '../../db/console/messages.js';
import { badge, href, html, phone, time, type Html } from '../html.js';
import { pager } from './messages.js';

const KEYWORD: Record<string, string> = { opt_out: 'STOP: opted out', opt_in: 'START: opted back in', ignored: 'keyword ignored (not an international number)' };

export function inboxRowHtml(r: InboxRow): Html {
  return html`<tr data-id="${r.id}">
  <td>${time(r.receivedAt)}</td>
  <td><a href="${href('/conversation', { phone: r.sender.replace(/^\+/, '') })}">${phone(r.sender)}</a></td>
  <td>${r.recipient}</td>
  <td>${r.parts}${r.missingParts ? html` <span class="bad-text">(${r.missingParts} missing)</span>` : ''}</td>
  <td>${r.keywordAction ? KEYWORD[r.keywordAction] ?? r.keywordAction : ''}</td>
  <td class="text">${r.redacted ? html`<span class="muted">redacted</span>` : html`<a class="reveal" href="${href('/conversation', { phone: r.sender.replace(/^\+/, ''), texts: '1' })}" data-reveal="/inbox/${r.id}/text">Show text</a>`}${r.bodyReplaced ? html` <span class="muted">(characters Postgres cannot hold were replaced)</span>` : ''}</td>
</tr>`;
}

export const INBOX_HEADERS = html`<th scope="col">Received (UTC)</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Parts</th><th scope="col">Keyword</th><th scope="col">Text</th>`;

export function inboxPage(raw: Record<string, string>, page: Page<InboxRow>, newest: boolean): Html {
  return html`<form class="filters" method="get" action="/inbox" aria-label="Filter incoming SMS">
  <div><label for="f-sender">From</label><input id="f-sender" name="sender" value="${raw.sender ?? ''}" placeholder="+79991234567" inputmode="tel"></div>
  <div class="buttons"><button type="submit">Filter</button> <a href="/inbox">Clear</a></div>
</form>
<table class="list" data-list="inbox" data-newest="${newest ? '1' : '0'}" data-query="${new URLSearchParams(raw).toString()}">
  <caption>Incoming SMS, newest first</caption>
  <thead><tr>${INBOX_HEADERS}</tr></thead>
  <tbody>${page.rows.map(inboxRowHtml)}</tbody>
</table>
${page.rows.length === 0 ? html`<p class="empty">No incoming SMS.</p>` : ''}
${pager('/inbox', raw, page)}`;
}

export function conversationPage(conv: Conversation, withTexts: boolean, c: Capabilities): Html {
  const p = conv.phone;
  const whose = c.readMessages && c.readInbox ? 'Everything sent to and received from' : 'What your login sent to and received from';
  return html`<div id="live-part"><p>${whose} <strong>${phone(p)}</strong>, oldest first (sms_conversation).
  ${withTexts ? html`<a href="${href('/conversation', { phone: p })}">Hide texts</a>` : html`<a href="${href('/conversation', { phone: p, texts: '1' })}">Show texts</a>`}${c.readMessages ? html`
  · <a href="${href('/messages', { recipient: p })}">Messages to this number</a>` : ''}${c.readOptOuts ? html` · <a href="${href('/opt-outs', { recipient: p })}">Opt-out state</a>` : ''}</p>
${conv.hasEarlier ? html`<p><a href="${href('/conversation', { phone: p, texts: withTexts ? '1' : undefined, before: conv.items[0]?.at.toISOString() })}">Earlier</a></p>` : ''}
<ol class="conversation" data-list="conversation" data-phone="${p}">
${conv.items.map((i) => conversationItem(i, withTexts))}
</ol>
${conv.items.length === 0 ? html`<p class="empty">Nothing sent to or received from this number.</p>` : ''}</div>`;
}

export function conversationItem(i: Conversation['items'][number], withTexts: boolean): Html {
  const text = i.signInCode
    ? html`<span class="muted">sign-in code, never shown</span>`
    : i.redacted
      ? html`<span class="muted">redacted</span>`
      : withTexts
        ? html`<span class="body-text">${i.text ?? ''}</span>`
        : html`<span class="muted">text hidden</span>`;
  if (i.direction === 'out') {
    return html`<li class="out" data-id="${i.id}"><div class="meta">${time(i.at)} · we sent · ${badge(i.status ?? '')} · <a href="/messages/${i.id}">details</a></div><div class="bubble">${text}</div></li>`;
  }
  return html`<li class="in" data-id="${i.id}"><div class="meta">${time(i.at)} · they answered${i.keywordAction ? html` · <strong>${KEYWORD[i.keywordAction] ?? i.keywordAction}</strong>` : ''}</div><div class="bubble">${text}</div></li>`;
}
