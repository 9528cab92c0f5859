/**
 * HTML for the console's server-rendered pages: a tagged template that escapes every value it is
 * given (text from the database included) unless it is already `Html`, and the small pieces every
 * page uses (times, status badges, links with the filters kept in the URL).
 */

export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = Html | string | number | boolean | null | undefined | HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false || value === true) return '';
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

/** html`<p>${text}</p>`: `text` escaped; Html values (other templates) kept; arrays joined; null, undefined and booleans render nothing. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!;
  return new Html(out);
}

/** Times are shown in UTC, to the second, with the zone said: support staff compare them with logs. */
export function time(at: Date | string | null | undefined): Html {
  if (!at) return html`<span class="muted">–</span>`;
  const d = at instanceof Date ? at : new Date(at);
  const iso = d.toISOString();
  return html`<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)}</time>`;
}

/** "4 s", "12 min", "3 h 5 min", "2 days". */
export function duration(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172_800) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.round(seconds / 86_400)} days`;
}

const GOOD = new Set(['delivered', 'bound', 'sent']);
const BAD = new Set(['undelivered', 'expired', 'rejected', 'failed', 'gone', 'closed', 'disconnected']);

/** A status as a badge: the word itself (colour only repeats it). */
export function badge(status: string): Html {
  const tone = GOOD.has(status) ? 'good' : BAD.has(status) ? 'bad' : 'neutral';
  return html`<span class="badge ${tone}" data-status="${status}">${status}</span>`;
}

/** `path` with `params` as its query, empty values left out. */
export function href(path: string, params: Record<string, string | undefined | null> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/** A phone number as stored (international digits), shown with its "+". */
export function phone(digits: string | null | undefined): string {
  if (!digits) return '–';
  return /^[0-9]+$/.test(digits) ? `+${digits}` : digits;
}
