// sms-outbox console: the little the pages do in the browser. Every page works without it (links
// and forms); with it, texts are revealed in place, a page's selection can be ticked at once, and
// pages marked data-live follow the console's event stream (/events: the database's LISTEN,
// relayed), asking the console again for what changed, with a pause switch.
'use strict';

(function () {
  const main = document.getElementById('main');

  async function fragment(url) {
    const res = await fetch(url, { headers: { 'x-console-fragment': '1' }, credentials: 'same-origin' });
    if (res.status === 401) {
      location.reload();
      return null;
    }
    if (res.status === 204) return '';
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.text();
  }

  function nodes(htmlText) {
    const t = document.createElement('template');
    t.innerHTML = htmlText;
    return t.content;
  }

  // Texts: shown in place of the link, only when asked.
  document.addEventListener('click', async (ev) => {
    const a = ev.target instanceof Element ? ev.target.closest('a[data-reveal]') : null;
    if (!a) return;
    ev.preventDefault();
    const url = a.getAttribute('data-reveal');
    try {
      const text = await fragment(url);
      if (text === null) return;
      // A live update may have replaced the row, link and all, while the text was on its way.
      const link = a.isConnected ? a : document.querySelector(`a[data-reveal="${CSS.escape(url)}"]`);
      if (!link) return;
      const shown = document.createElement('span');
      shown.setAttribute('data-revealed', url);
      shown.append(nodes(text));
      link.replaceWith(shown);
    } catch {
      location.href = a.href;
    }
  });

  // "Select all on this page" for the checkboxes of one form.
  document.addEventListener('click', (ev) => {
    const b = ev.target instanceof Element ? ev.target.closest('button[data-select-all]') : null;
    if (!b) return;
    const form = b.getAttribute('data-select-all');
    const boxes = [...document.querySelectorAll(`input[type=checkbox][form="${form}"]`)];
    const all = boxes.every((x) => x.checked);
    for (const x of boxes) x.checked = !all;
  });

  const kind = main && main.getAttribute('data-live');
  if (!kind || !window.EventSource) return;

  const stateEl = document.getElementById('live-state');
  const toggle = document.getElementById('live-toggle');
  const PAUSE_KEY = 'sms-console-paused';
  let paused = sessionStorage.getItem(PAUSE_KEY) === '1';
  let missed = 0;
  let connected = false;

  function say(text) {
    if (stateEl) stateEl.textContent = text;
  }
  function showState() {
    if (paused) say(missed ? `Live updates paused: ${missed} update${missed === 1 ? '' : 's'} waiting` : 'Live updates paused');
    else say(connected ? 'Live updates on' : 'Live updates: reconnecting…');
    if (toggle) {
      toggle.textContent = paused ? 'Resume live updates' : 'Pause live updates';
      toggle.setAttribute('aria-pressed', paused ? 'true' : 'false');
    }
  }

  function flash(el) {
    el.classList.add('updated');
    setTimeout(() => el.classList.remove('updated'), 2500);
  }

  let lastOverview = Date.now();

  // One refresh at a time per key; another asked for meanwhile runs once after it.
  const running = new Map();
  function once(key, work) {
    const r = running.get(key);
    if (r) {
      r.again = true;
      return;
    }
    const state = { again: false };
    running.set(key, state);
    (async () => {
      do {
        state.again = false;
        try {
          await work();
        } catch (err) {
          console.warn('live update failed', err);
        }
      } while (state.again);
      running.delete(key);
      document.body.dataset.liveSettled = String(Date.now());
    })();
  }

  // A text the user asked to see stays shown when what holds it is read again.
  function keepRevealed(old, fresh) {
    for (const shown of old.querySelectorAll('[data-revealed]')) {
      const link = fresh.querySelector(`a[data-reveal="${CSS.escape(shown.getAttribute('data-revealed'))}"]`);
      if (link) link.replaceWith(shown);
    }
  }

  // Reads of rows are numbered as they start. Two reads of one row can end in either order, so a
  // row shown from a read is replaced only by a read that started later: the last read to start,
  // which began after the last event, always wins.
  let reads = 0;
  const readOf = new WeakMap();
  function rowById(tbody, id) {
    return tbody.querySelector(`tr[data-id="${id}"]`);
  }
  function newer(shown, seq) {
    return (readOf.get(shown) || 0) < seq;
  }

  async function refreshRow(tbody, id, url) {
    const seq = ++reads;
    const text = await fragment(url);
    if (text === null) return;
    // The row as it is now: another read may have replaced the element meanwhile.
    const tr = rowById(tbody, id);
    if (!tr || !newer(tr, seq)) return;
    if (text === '') return tr.remove();
    const fresh = nodes(text).firstElementChild;
    if (!fresh) return;
    swapRow(tr, fresh, seq);
  }

  // `tr` replaced by `fresh`, the same message read again: what the user did to it stays.
  function swapRow(tr, fresh, seq) {
    const box = tr.querySelector('input[type=checkbox]');
    const checked = box && box.checked;
    keepRevealed(tr, fresh);
    tr.replaceWith(fresh);
    readOf.set(fresh, seq);
    const newBox = fresh.querySelector('input[type=checkbox]');
    if (newBox && checked) newBox.checked = true;
    flash(fresh);
  }

  async function prependNew(table, rowsUrl) {
    const tbody = table.tBodies[0];
    const seq = ++reads;
    const first = tbody.querySelector('tr[data-id]');
    const q = new URLSearchParams(table.getAttribute('data-query') || '');
    // From the start of the first row's millisecond: ids made in one millisecond are in no
    // particular order, so a later message may sort just below it (rows shown already are replaced).
    if (first) q.set('after', `${first.getAttribute('data-id').slice(0, 13)}-0000-0000-000000000000`);
    const text = await fragment(`${rowsUrl}?${q}`);
    if (!text) return;
    const frag = nodes(text);
    // Rows already shown are replaced where they are, when this read started after the one that
    // showed them: a status event that came while this request was under way found no row to
    // refresh.
    for (const tr of [...frag.querySelectorAll('tr[data-id]')]) {
      const shown = rowById(tbody, tr.getAttribute('data-id'));
      if (shown) {
        tr.remove();
        if (newer(shown, seq) && shown.outerHTML !== tr.outerHTML) swapRow(shown, tr, seq);
      }
    }
    const fresh = [...frag.querySelectorAll('tr[data-id]')];
    tbody.prepend(frag);
    for (const tr of fresh) {
      readOf.set(tr, seq);
      flash(tr);
    }
    const empty = main.querySelector('.empty');
    if (fresh.length && empty) empty.remove();
  }

  async function replaceById(id, url) {
    const el = document.getElementById(id);
    if (!el) return;
    const text = await fragment(url);
    if (!text) return;
    const fresh = nodes(text).firstElementChild;
    if (!fresh) return;
    keepRevealed(el, fresh);
    el.replaceWith(fresh);
  }

  function handle(type, data) {
    // Missed while paused or disconnected: a list reloads whole (its rows may all have changed).
    if (type === 'resync' && (kind === 'messages' || kind === 'failures' || kind === 'inbox')) {
      location.reload();
      return;
    }
    if (kind === 'messages' || kind === 'failures') {
      const table = main.querySelector('table[data-list]');
      if (!table) return;
      if (type === 'status') {
        const tr = table.querySelector(`tr[data-id="${data.id}"]`);
        const select = kind === 'failures' ? '?select=1' : '';
        if (tr) once(`row:${data.id}`, () => refreshRow(table.tBodies[0], data.id, `/messages/${data.id}/row${select}`));
        else if (kind === 'messages' && table.getAttribute('data-newest') === '1') once('new', () => prependNew(table, '/messages/rows'));
      } else if ((type === 'tick' || type === 'resync') && kind === 'messages' && table.getAttribute('data-newest') === '1') {
        once('new', () => prependNew(table, '/messages/rows'));
      }
    } else if (kind === 'inbox') {
      const table = main.querySelector('table[data-list=inbox]');
      if (table && table.getAttribute('data-newest') === '1' && (type === 'inbox' || type === 'resync')) once('new', () => prependNew(table, '/inbox/rows'));
    } else if (kind === 'message') {
      const trail = document.getElementById('trail');
      if (trail && (type === 'resync' || (type === 'status' && data.id === trail.getAttribute('data-id')))) {
        once('trail', () => replaceById('trail', `/messages/${trail.getAttribute('data-id')}/trail`));
      }
    } else if (kind === 'overview') {
      // Its counts read whole indexes (sms_stats): at most one refresh every 5 s, however busy.
      if (type === 'status' || type === 'inbox' || type === 'tick' || type === 'resync') {
        once('overview', async () => {
          const wait = lastOverview + 5000 - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          lastOverview = Date.now();
          await replaceById('overview-live', '/overview/live');
        });
      }
    } else if (kind === 'conversation') {
      if (type === 'status' || type === 'inbox' || type === 'resync') once('conversation', () => replaceById('live-part', `/conversation/live${location.search}`));
    }
  }

  const source = new EventSource('/events');
  source.addEventListener('ready', (ev) => {
    const first = !connected && document.body.dataset.liveReady !== '1';
    connected = JSON.parse(ev.data).listening;
    document.body.dataset.liveReady = connected ? '1' : '0';
    showState();
    if (!first && !paused) handle('resync', {});
  });
  for (const type of ['status', 'inbox', 'tick', 'resync']) {
    source.addEventListener(type, (ev) => {
      if (paused) {
        if (type !== 'tick') missed++;
        showState();
        return;
      }
      handle(type, JSON.parse(ev.data));
    });
  }
  source.addEventListener('lost', () => {
    connected = false;
    showState();
  });
  source.addEventListener('error', () => {
    connected = false;
    showState();
  });

  if (toggle) {
    toggle.addEventListener('click', () => {
      paused = !paused;
      sessionStorage.setItem(PAUSE_KEY, paused ? '1' : '0');
      if (!paused && missed) {
        missed = 0;
        handle('resync', {});
      }
      showState();
    });
  }
  showState();
})();
