/**
 * The overview: messages by status, the oldest due message, receipts overdue, throughput per
 * minute over the last hour (an SVG drawn here: no script, no CDN), each worker's bind state and
 * heartbeat.
 */
import type { MinuteCounts, Overview } from '../../db/console/overview.js';
import type { WorkerStateRow } from '../../db/workers.js';
import { MESSAGE_STATUSES } from '../../db/schema.js';
import { badge, duration, href, html, time, type Html } from '../html.js';

function chart(minutes: MinuteCounts[]): Html {
  const w = 720;
  const h = 160;
  const max = Math.max(1, ...minutes.map((m) => Math.max(m.enqueued, m.delivered + m.notDelivered)));
  const bw = w / minutes.length;
  const y = (n: number) => Math.round((n / max) * (h - 20));
  const total = minutes.reduce((s, m) => ({ e: s.e + m.enqueued, d: s.d + m.delivered, n: s.n + m.notDelivered }), { e: 0, d: 0, n: 0 });
  const first = minutes[0]?.minute;
  const last = minutes.at(-1)?.minute;
  return html`<figure class="chart">
<svg viewBox="0 0 ${w} ${h}" width="100%" height="${h}" role="img" aria-labelledby="chart-title chart-desc" focusable="false">
<title id="chart-title">Messages per minute over the last hour</title>
<desc id="chart-desc">${total.e} enqueued, ${total.d} delivered and ${total.n} finished otherwise between ${first?.toISOString().slice(11, 16) ?? ''} and ${last?.toISOString().slice(11, 16) ?? ''} UTC; the busiest minute had ${max}.</desc>
${minutes.map((m, i) => {
  const x = Math.round(i * bw);
  const bar = Math.max(1, Math.floor(bw / 2) - 1);
  return html`<rect class="enqueued" x="${x}" y="${h - y(m.enqueued)}" width="${bar}" height="${y(m.enqueued)}"></rect><rect class="delivered" x="${x + bar}" y="${h - y(m.delivered)}" width="${bar}" height="${y(m.delivered)}"></rect><rect class="failed" x="${x + bar}" y="${h - y(m.delivered) - y(m.notDelivered)}" width="${bar}" height="${y(m.notDelivered)}"></rect>`;
})}
<text x="4" y="12" class="axis">${max}/min</text>
</svg>
<figcaption><span class="key enqueued"></span> enqueued <span class="key delivered"></span> delivered <span class="key failed"></span> finished otherwise — ${total.e} enqueued, ${total.d} delivered, ${total.n} not delivered in the hour (UTC ${first?.toISOString().slice(11, 16) ?? ''}–${last?.toISOString().slice(11, 16) ?? ''})</figcaption>
</figure>`;
}

export function workersTable(workers: WorkerStateRow[] | null): Html {
  if (workers === null) return html`<p class="muted">Your login may not read sms_worker_state (the reader role may).</p>`;
  if (!workers.length) return html`<p class="notice problem" role="alert">No worker has reported in the last day: nothing is sending.</p>`;
  return html`<table class="list"><caption>Workers seen in the last day</caption>
<thead><tr><th scope="col">Worker</th><th scope="col">SMPP bind</th><th scope="col">Since</th><th scope="col">Last heartbeat</th><th scope="col">SMSC</th><th scope="col">Last problem</th></tr></thead>
<tbody>${workers.map(
    (w) => html`<tr>
  <td class="mono">${w.workerId}<br><span class="muted">${w.host}, pid ${w.pid}, ${w.version}</span></td>
  <td>${w.stoppedAt ? badge('stopped') : w.gone ? html`${badge('gone')} <span class="muted">was ${w.bindState}</span>` : badge(w.bindState)}</td>
  <td>${time(w.stoppedAt ?? w.bindStateSince)}</td>
  <td>${duration(w.heartbeatAgeSeconds)} ago <span class="muted">(every ${duration(w.heartbeatIntervalSeconds)})</span></td>
  <td class="mono">${w.smsc}</td>
  <td>${w.lastProblem ?? ''}</td>
</tr>`,
  )}</tbody></table>`;
}

/** The part of the overview that live updates reload. */
export function overviewLive(o: Overview, minutes: MinuteCounts[] | string, workers: WorkerStateRow[] | null): Html {
  return html`<div id="overview-live">
<section aria-labelledby="h-status"><h2 id="h-status">Messages by status</h2>
<ul class="cards">${MESSAGE_STATUSES.map(
    (s) => html`<li><a href="${href('/messages', { status: s })}"><span class="count">${o.counts[s]}</span> ${badge(s)}</a></li>`,
  )}</ul>
<dl class="facts">
  <dt>Oldest due message</dt><dd>${o.oldestDue ? html`<a href="/messages/${o.oldestDue.id}">waiting ${duration(o.oldestDue.ageSeconds)}</a>` : 'none waiting'}</dd>
  <dt>Receipts overdue</dt><dd>${o.receiptsOverdue ? html`<a href="${href('/messages', { status: 'sent' })}">${o.receiptsOverdue} sent message${o.receiptsOverdue === 1 ? '' : 's'} past their validity and its grace without a receipt</a>` : 'none'}</dd>
  <dt>Last minute</dt><dd>${o.sentLastMinute} accepted by the SMSC, ${o.deliveredLastMinute} delivered</dd>
</dl>
</section>
<section aria-labelledby="h-throughput"><h2 id="h-throughput">Throughput, last hour</h2>
${typeof minutes === 'string' ? html`<p class="muted">${minutes}</p>` : chart(minutes)}
</section>
<section aria-labelledby="h-workers"><h2 id="h-workers">Workers</h2>
${workersTable(workers)}
</section>
</div>`;
}
