/** The frame of every console page: head, navigation by what the login may see, the live switch. */
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Capabilities } from '../db/console/capabilities.js';
import { html, type Html, type HtmlValue } from './html.js';

export interface PageFrame {
  title: string;
  /** The nav entry to mark current. */
  section: string;
  capabilities: Capabilities;
  csrf: string;
  /** The page takes live updates (data-live on <main>: which kind of page it is). */
  live?: string;
  body: HtmlValue;
}

const NAV: { path: string; section: string; label: string; show: (c: Capabilities) => boolean }[] = [
  { path: '/', section: 'overview', label: 'Overview', show: (c) => c.readMessages },
  { path: '/messages', section: 'messages', label: 'Messages', show: (c) => c.readMessages },
  { path: '/failures', section: 'failures', label: 'Failures', show: (c) => c.readMessages },
  { path: '/inbox', section: 'inbox', label: 'Inbox', show: (c) => c.readInbox },
  { path: '/opt-outs', section: 'opt-outs', label: 'Opt-outs', show: (c) => c.readOptOuts },
  { path: '/parked', section: 'parked', label: 'Parked inbound', show: (c) => c.readParked },
  { path: '/phone-sign-in', section: 'phone-sign-in', label: 'Phone sign-in', show: (c) => c.readSignInCodes || c.readRefusals },
];

/** What the login may do, in words, for the header. */
export function rolesLine(c: Capabilities): string {
  const may: string[] = [];
  if (c.admin) may.push('owner of the sms_ objects: acts on every message');
  if (c.readMessages) may.push('reads every message');
  else if (c.explain) may.push('looks up its own messages by id');
  if (c.retry || c.cancel) may.push(c.admin ? 'retries and cancels' : 'retries and cancels its own messages');
  if (c.optIn) may.push('opts numbers back in');
  if (c.replay) may.push('replays parked rows');
  return may.join('; ');
}

export function page(f: PageFrame): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${f.title} · sms-outbox console</title>
<link rel="stylesheet" href="/assets/console.css">
<script src="/assets/console.js" defer></script>
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <div class="brand"><a href="/">sms-outbox console</a></div>
  <nav aria-label="Sections"><ul>
    ${NAV.filter((n) => n.show(f.capabilities)).map(
      (n) => html`<li><a href="${n.path}"${n.section === f.section ? html` aria-current="page"` : ''}>${n.label}</a></li>`,
    )}
  </ul></nav>
  <form class="lookup" method="get" action="/lookup" role="search">
    <label for="lookup-q">Message id or phone</label>
    <input id="lookup-q" name="q" type="search" placeholder="id or +7…" required>
    <button type="submit">Find</button>
  </form>
  <div class="who">
    <span title="${rolesLine(f.capabilities)}">Signed in as <strong>${f.capabilities.login}</strong></span>
    <form method="post" action="/sign-out"><input type="hidden" name="csrf" value="${f.csrf}"><button type="submit" class="link">Sign out</button></form>
  </div>
</header>
${f.live ? html`<div class="live-bar"><span id="live-state" role="status" aria-live="polite">Live updates: connecting…</span> <button type="button" id="live-toggle" aria-pressed="false">Pause live updates</button></div>` : ''}
<main id="main"${f.live ? html` data-live="${f.live}"` : ''}>
<h1>${f.title}</h1>
${f.body}
</main>
</body>
</html>`;
}

/** A page outside the signed-in frame (sign-in, errors before sign-in). */
export function bare(title: string, body: HtmlValue): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · sms-outbox console</title>
<link rel="stylesheet" href="/assets/console.css">
</head>
<body class="bare">
<main id="main">
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

/** A message for the user, in a box: info, ok or problem. */
export function notice(kind: 'info' | 'ok' | 'problem', text: HtmlValue): Html {
  return html`<div class="notice ${kind}" role="${kind === 'problem' ? 'alert' : 'status'}">${text}</div>`;
}

/** Answers with a page or fragment. */
export function send(c: Context<any>, body: Html, status: ContentfulStatusCode = 200): Response {
  return c.html(body.value, status);
}
