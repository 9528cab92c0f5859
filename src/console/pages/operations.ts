/** Opt-outs, parked incoming traffic, and phone sign-in (refusals by reason, codes' status; never a code). */
import type { Capabilities } from '../../db/console/capabilities.js';
import type { OptOutLogRow, OptOutRow, ParkedRow, SignInCodeRow } from '../../db/console/lists.js';
import { badge, href, html, phone, time, type Html } from '../html.js';

export function optOutsPage(
  rows: OptOutRow[],
  log: OptOutLogRow[],
  stats: Record<string, number>,
  raw: Record<string, string>,
  c: Capabilities,
  csrf: string,
  next: string | undefined,
): Html {
  const recipient = raw.recipient;
  return html`<p>${stats.opted_out ?? 0} number${stats.opted_out === 1 ? '' : 's'} receive no marketing message. Since install: ${stats.stop_keywords ?? 0} stop and ${stats.start_keywords ?? 0} start keywords received; ${stats.operator_opt_outs ?? 0} opt-outs and ${stats.operator_opt_ins ?? 0} opt-ins by call.</p>
<form class="filters" method="get" action="/opt-outs" aria-label="Find a number">
  <div><label for="f-oo">Number</label><input id="f-oo" name="recipient" value="${recipient ?? ''}" placeholder="+79991234567" inputmode="tel"></div>
  <div class="buttons"><button type="submit">Find</button> <a href="/opt-outs">All</a></div>
</form>
${c.optOut ? html`<form class="inline" method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="opt_out"><label for="oo-new">Opt a number out</label> <input id="oo-new" name="number" placeholder="+79991234567" inputmode="tel" required> <button type="submit">Opt out…</button></form>` : ''}
<table class="list">
  <caption>${recipient ? 'This number' : 'Opted-out numbers, latest first'}</caption>
  <thead><tr><th scope="col">Number</th><th scope="col">Since (UTC)</th><th scope="col">How</th><th scope="col">By</th>${c.optIn ? html`<th scope="col">Action</th>` : ''}</tr></thead>
  <tbody>${rows.map(
    (r) => html`<tr data-recipient="${r.recipient}">
    <td><a href="${href('/conversation', { phone: r.recipient })}">${phone(r.recipient)}</a></td><td>${time(r.optedOutAt)}</td>
    <td>${r.source === 'keyword' ? html`sent ${r.keyword}` : 'sms_opt_out()'}</td><td class="mono">${r.actor ?? ''}</td>
    ${c.optIn ? html`<td><form method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="opt_in"><input type="hidden" name="number" value="${r.recipient}"><button type="submit">Opt back in…</button></form></td>` : ''}
  </tr>`,
  )}</tbody>
</table>
${rows.length === 0 ? html`<p class="empty">${recipient ? `${phone(recipient)} is not opted out.` : 'No number is opted out.'}</p>` : ''}
${next ? html`<nav class="pager" aria-label="Pages"><a href="${next}" rel="next">Older →</a></nav>` : ''}
<section aria-labelledby="h-oolog"><h2 id="h-oolog">Latest changes${recipient ? ` of ${phone(recipient)}` : ''}</h2>
<table class="list"><caption>Every STOP, START and call, newest first</caption>
<thead><tr><th scope="col">At (UTC)</th><th scope="col">Number</th><th scope="col">Action</th><th scope="col">How</th><th scope="col">Changed anything</th></tr></thead>
<tbody>${log.map((l) => html`<tr><td>${time(l.at)}</td><td>${phone(l.recipient)}</td><td>${l.action}</td><td>${l.source === 'keyword' ? `keyword ${l.keyword}` : `call by ${l.actor ?? '?'}`}</td><td>${l.changed ? 'yes' : 'no (already so)'}</td></tr>`)}</tbody></table>
</section>`;
}

export function parkedPage(rows: ParkedRow[], c: Capabilities, csrf: string): Html {
  return html`<p>Incoming PDUs (receipts and SMS) Postgres refused to store, kept here with the error and acknowledged to the SMSC. Fix the cause, then replay them: the worker's next sms_reconcile run stores each again.${c.replay ? '' : ' Replaying is for the owner of the sms_ objects.'}</p>
${c.replay && rows.length ? html`<form method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="replay"><input type="hidden" name="id" value="all"><button type="submit">Replay all…</button></form>` : ''}
<table class="list"><caption>Parked incoming traffic, latest first</caption>
<thead><tr><th scope="col">Parked (UTC)</th><th scope="col">Kind</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Error</th><th scope="col">Attempts</th><th scope="col">Replay asked</th><th scope="col">Size</th>${c.replay ? html`<th scope="col">Action</th>` : ''}</tr></thead>
<tbody>${rows.map(
    (r) => html`<tr><td>${time(r.parkedAt)}</td><td>${r.kind}</td><td>${phone(r.sender)}</td><td>${r.recipient ?? ''}</td><td>${r.errorCode}: ${r.errorMessage}</td><td>${r.attempts}</td><td>${time(r.replayRequestedAt)}</td><td>${r.bytes} bytes</td>
    ${c.replay ? html`<td><form method="post" action="/confirm"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="action" value="replay"><input type="hidden" name="id" value="${r.id}"><button type="submit">Replay…</button></form></td>` : ''}</tr>`,
  )}</tbody></table>
${rows.length === 0 ? html`<p class="empty">Nothing is parked.</p>` : ''}`;
}

export function phoneSignInPage(refusals: { reason: string; refused: number }[] | null, codes: { byStatus: { status: string; codes: number }[]; latest: SignInCodeRow[] } | null): Html {
  const REASONS: Record<string, string> = {
    bad_event: 'the event Auth sent was not understood',
    bad_phone: 'not a plausible phone number',
    country: 'a country not in allowed_country_prefixes',
    phone_limit: 'too many codes for one number',
    global_limit: 'too many codes a minute in all',
    busy: 'the number was busy with another code (lock)',
    error: 'any other error',
    range_blocked: 'the number range is blocked for SMS pumping (or pinned closed)',
    range_throttled: 'the number range is throttled for SMS pumping',
  };
  return html`<p>Supabase Auth's Send SMS Hook (sms_auth_send_sms_hook): what it refused and how the codes it queued fared. The codes themselves are never shown.</p>
${refusals === null
    ? html`<p class="muted">Your login may not call sms_auth_hook_refusals().</p>`
    : html`<table class="list"><caption>Refusals since install, by reason</caption><thead><tr><th scope="col">Reason</th><th scope="col">Refused</th><th scope="col">Meaning</th></tr></thead>
<tbody>${refusals.map((r) => html`<tr><td>${r.reason}</td><td>${r.refused}</td><td>${REASONS[r.reason] ?? ''}</td></tr>`)}</tbody></table>`}
${codes === null
    ? html`<p class="muted">Your login may not read sms_auth_code.</p>`
    : html`<table class="list"><caption>Codes queued in the last day, by the status of their SMS</caption><thead><tr><th scope="col">Status</th><th scope="col">Codes</th></tr></thead>
<tbody>${codes.byStatus.map((s) => html`<tr><td>${badge(s.status)}</td><td>${s.codes}</td></tr>`)}</tbody></table>
${codes.byStatus.length === 0 ? html`<p class="empty">No code in the last day.</p>` : ''}
<table class="list"><caption>Latest codes (never the code)</caption><thead><tr><th scope="col">Queued (UTC)</th><th scope="col">Phone</th><th scope="col">User</th><th scope="col">Type</th><th scope="col">Status</th><th scope="col">Expires (UTC)</th><th scope="col">Message</th></tr></thead>
<tbody>${codes.latest.map(
        (r) => html`<tr><td>${time(r.createdAt)}</td><td><a href="${href('/conversation', { phone: r.phone })}">${phone(r.phone)}</a></td><td class="mono">${r.userId ?? ''}</td><td>${r.smsType ?? ''}</td><td>${badge(r.status)}</td><td>${time(r.expiresAt)}</td><td><a class="mono" href="/messages/${r.outboxId}">${r.outboxId.slice(0, 8)}…</a></td></tr>`,
      )}</tbody></table>`}`;
}
