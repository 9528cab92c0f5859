/**
 * One message: its decision trail from sms_explain (migration 0018), the same the psql user gets,
 * laid out as facts, the encoding and why, attempts, retries, parts, receipts and a timeline; the
 * text only when asked and never a sign-in code's; retry and cancel where the login may.
 */
import type { Capabilities } from '../../db/console/capabilities.js';
import { RETRYABLE, type MessageText } from '../../db/console/messages.js';
import type { MessageStatus } from '../../db/schema.js';
import { badge, html, phone, time, type Html, type HtmlValue } from '../html.js';
import { notice } from '../layout.js';

type Trail = Record<string, any>;

function table(caption: string, headers: string[], rows: HtmlValue[][]): Html {
  if (!rows.length) return html``;
  return html`<table class="list"><caption>${caption}</caption>
<thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody>${rows.map((r) => html`<tr>${r.map((v) => html`<td>${v}</td>`)}</tr>`)}</tbody></table>`;
}

/** The actions this login may take on this message: forms to the confirmation page. */
function actions(t: Trail, c: Capabilities, csrf: string): Html {
  const own = c.admin || t.owner === c.owner;
  const out: Html[] = [];
  if (c.retry && own && RETRYABLE.includes(t.status as MessageStatus) && !t.encoding?.body_redacted_at) {
    out.push(html`<form method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="retry"><input type="hidden" name="id" value="${t.id}"><button type="submit">Retry…</button></form>`);
  }
  if (c.cancel && own && t.status === 'queued') {
    out.push(html`<form method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="cancel"><input type="hidden" name="id" value="${t.id}"><button type="submit" class="danger">Cancel…</button></form>`);
  }
  return out.length ? html`<div class="actions">${out}</div>` : html``;
}

function textSection(t: Trail, text: MessageText | null, c: Capabilities): Html {
  if (t.via === 'supabase_auth_hook') return html`<p><strong>Text:</strong> <span class="muted">a sign-in code: never shown</span></p>`;
  if (!c.readMessages) return html``;
  if (!text) return html`<p><strong>Text:</strong> <a class="reveal" href="/messages/${t.id}?text=1" data-reveal="/messages/${t.id}/text">Show text</a></p>`;
  return html`<p><strong>Text:</strong> ${textValue(text)}</p>`;
}

export function textValue(text: MessageText): Html {
  switch (text.kind) {
    case 'text':
      return html`<span class="body-text">${text.text}</span>`;
    case 'sign_in_code':
      return html`<span class="muted">a sign-in code: never shown</span>`;
    case 'redacted':
      return html`<span class="muted">redacted at ${time(text.at)} (${text.length ?? '?'} characters)</span>`;
    default:
      return html`<span class="muted">not found</span>`;
  }
}

/** The part of the page that live updates replace. */
export function trailHtml(t: Trail, c: Capabilities, csrf: string, text: MessageText | null): Html {
  const e = t.encoding ?? {};
  const a = t.attempts ?? {};
  return html`<div id="trail" data-id="${t.id}" data-status="${t.status}">
<p class="outcome">${badge(t.status)} ${t.outcome}</p>
${actions(t, c, csrf)}
<dl class="facts">
  <dt>Id</dt><dd class="mono">${t.id}</dd>
  <dt>To</dt><dd><a href="/conversation?phone=${encodeURIComponent(t.recipient)}">${phone(t.recipient)}</a></dd>
  <dt>From</dt><dd>${t.sender}</dd>
  <dt>Owner</dt><dd class="mono">${t.owner}</dd>
  <dt>Category</dt><dd>${t.category}${t.via ? html` (via ${t.via})` : ''}</dd>
  <dt>Priority</dt><dd>${t.priority}</dd>
  <dt>Created</dt><dd>${time(t.created_at)}</dd>
  <dt>Due</dt><dd>${time(t.send_at)}</dd>
  <dt>Expires</dt><dd>${time(t.expires_at)}</dd>
  <dt>Accepted by the SMSC</dt><dd>${time(t.submitted_at)}</dd>
  <dt>Finished</dt><dd>${time(t.done_at)}</dd>
</dl>
${textSection(t, text, c)}
<section aria-labelledby="h-encoding"><h2 id="h-encoding">Encoding</h2>
<p>${e.reason}</p>
<p>${e.segments} part${e.segments === 1 ? '' : 's'}${e.units !== undefined ? html`, ${e.units} ${e.encoding === 'ucs2' ? 'UTF-16 units' : 'septets'} of ${e.characters} characters (one SMS holds ${e.single_limit}, a part of several ${e.part_limit})` : ''}.</p>
${table('Characters that decided UCS-2', ['Character', 'Code point', 'First at', 'Times'], (e.deciding_characters ?? []).map((x: Trail) => [html`<span class="char">${x.char}</span>`, x.codepoint, x.first_at, x.count]))}
${table('Characters that count twice', ['Character', 'Code point', 'First at', 'Times'], (e.double_characters ?? []).map((x: Trail) => [html`<span class="char">${x.char}</span>`, x.codepoint, x.first_at, x.count]))}
</section>
<section aria-labelledby="h-attempts"><h2 id="h-attempts">Attempts</h2>
<p>${a.made} submit attempt${a.made === 1 ? '' : 's'} (${a.since_last_retry} since the last retry, at most ${a.max}); retried ${a.retries} time${a.retries === 1 ? '' : 's'} with sms_retry.</p>
${table('Attempts that ended with an error', ['At (UTC)', 'Attempt', 'Led to', 'Error', 'Message'], (a.errors ?? []).map((x: Trail) => [time(x.at), x.attempt, x.status, x.error_code, x.error_message]))}
${table('Refusals', ['By', 'Code', 'Why'], (t.refusals ?? []).map((x: Trail) => [x.by, x.code, x.message]))}
${table('Outcomes replaced by sms_retry', ['Retried (UTC)', 'By', 'Had ended', 'Error', 'Receipt', 'SMSC ids'], (t.retries ?? []).map((x: Trail) => [time(x.retried_at), x.retried_by, x.status, [x.error_code, x.error_message].filter(Boolean).join(': '), x.receipt_state, (x.message_ids ?? []).join(', ')]))}
</section>
<section aria-labelledby="h-parts"><h2 id="h-parts">Parts and receipts</h2>
${(t.parts ?? []).length ? table('Parts with their SMSC ids', ['Part', 'SMSC id', 'Accepted (UTC)', 'Receipt', 'Error', 'Done (UTC)'], t.parts.map((p: Trail) => [p.part_no, html`<span class="mono">${p.message_id}</span>`, time(p.submitted_at), p.receipt_state, p.receipt_error, time(p.done_at)])) : html`<p class="muted">Not accepted by the SMSC yet: no SMSC id.</p>`}
${(t.receipts ?? []).length ? table('Receipts as received (the text field left out)', ['Received (UTC)', 'SMSC id', 'State', 'Error', 'Raw'], t.receipts.map((r: Trail) => [time(r.received_at), html`<span class="mono">${r.message_id}</span>`, r.state, r.error, html`<code>${r.text ?? ''}</code>`])) : html`<p class="muted">No raw receipt kept: a receipt matched on arrival is kept as the state and error of its part (above); the whole receipt is stored (sms_receipt) only when it came before its message's SMSC id was known.</p>`}
</section>
<section aria-labelledby="h-timeline"><h2 id="h-timeline">Timeline</h2>
<ol class="timeline">${(t.timeline ?? []).map((x: Trail) => html`<li>${time(x.at)} <strong>${x.event}</strong> ${x.detail}</li>`)}</ol>
</section>
</div>`;
}

export function messageNotFound(id: string, c: Capabilities): Html {
  return notice(
    'problem',
    c.readMessages || c.admin
      ? html`No message <span class="mono">${id}</span>.`
      : html`No message <span class="mono">${id}</span> of yours: your login sees only the messages it sent (sms_explain's ownership rules).`,
  );
}
