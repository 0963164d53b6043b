// The dashboard: the server's own numbers, live. Every second or two it
// reads GET /metrics (Prometheus text, parsed by prom.js) and GET
// /api/rooms, and shows connections by transport, events/s, deliveries/s,
// commit batch sizes and fsync latency (from the histograms), recoveries,
// and the rooms with their heads, as figures, tables and uPlot charts.
//
// /metrics is open only while the server has no credential configured;
// otherwise it takes an admin API key (or is served on --metrics-addr
// alone). A 401/403 stops the polling and asks for a key, kept in this
// tab's sessionStorage and sent as Authorization: Bearer.

import { el } from '../transports/util.js';
import { TimeChart } from './chart.js';
import { figures, recoveries } from './figures.js';
import { Scrape } from './prom.js';

const $ = (sel) => document.querySelector(sel);
const KEY_STORE = 'rtbroker.adminKey';
const WINDOW_MS = 10000; // the figures' histogram window
const ROOMS_SHOWN = 25;

let key = '';
try { key = sessionStorage.getItem(KEY_STORE) ?? ''; } catch { /* storage disabled */ }

const scrapes = []; // the last scrapes, oldest first, WINDOW_MS and a bit
let firstScrape = null; // the page's first: "since opened"
let roomsPrev = null; // {time, totals: Map room → count + trimmed}
let timer = 0;
let paused = false;
let stopped = false; // refused: waiting for a key

const charts = {
  rates: new TimeChart($('#chart-rates'), { unit: fmtNum }),
  conns: new TimeChart($('#chart-conns'), { unit: fmtNum }),
  batch: new TimeChart($('#chart-batch'), { unit: fmtNum }),
  fsync: new TimeChart($('#chart-fsync'), { unit: (v) => (v >= 1000 ? `${fmtNum(v / 1000)} s` : `${fmtNum(v)} ms`), log: true }),
  bytes: new TimeChart($('#chart-bytes'), { unit: (v) => (v >= 1e6 ? `${fmtNum(v / 1e6)} MB` : v >= 1e3 ? `${fmtNum(v / 1e3)} kB` : `${fmtNum(v)} B`) }),
  lag: new TimeChart($('#chart-lag'), { unit: fmtNum }),
};

/** fmtNum shows a figure with about three significant digits. */
function fmtNum(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a >= 1e6) return `${(v / 1e6).toFixed(1)} M`;
  if (a >= 1e4) return `${(v / 1e3).toFixed(1)} k`;
  if (a >= 100) return String(Math.round(v));
  if (a >= 10) return v.toFixed(1).replace(/\.0$/, '');
  if (a >= 1) return v.toFixed(2).replace(/\.?0+$/, '');
  return v.toPrecision(2);
}

/** get fetches path with the admin key, if any. */
function get(path) {
  const headers = key ? { Authorization: `Bearer ${key}` } : {};
  return fetch(path, { cache: 'no-store', headers });
}

/** errorText is the server's {"error":{"message"}} or the status. */
async function errorText(res) {
  const body = await res.json().catch(() => null);
  return body?.error?.message ?? `status ${res.status}`;
}

/**
 * status shows the scraping state; only a change of text is announced
 * (role=status), the per-scrape detail beside it is not.
 */
function status(text, state, detail = '') {
  const st = $('#scrape-status');
  if (st.textContent !== text) st.textContent = text;
  st.parentElement.dataset.state = state;
  $('#scrape-detail').textContent = detail;
}

// ---- figures ----

const TILES = [
  ['events', 'Events/s', 'committed to the log'],
  ['deliveries', 'Deliveries/s', 'events written to clients'],
  ['bytes', 'Delivered/s', 'bytes of those events'],
  ['connections', 'Connections', 'SSE, long-poll, Socket.IO'],
  ['subscriptions', 'Subscriptions', 'open cursors on the log'],
  ['head', 'Log head', 'last committed offset'],
  ['rooms', 'Rooms', 'that ever had an event'],
  ['commits', 'Commits/s', 'one fsync each'],
  ['batch', 'Events per commit', 'mean, last 10 s'],
  ['fsync', 'fsync p99', 'last 10 s'],
  ['deliver', 'Publish → deliver p99', 'sampled, last 10 s'],
  ['lag', 'Largest lag', 'events a connection is behind'],
  ['replayed', 'Replayed/s', 'catch-up reads'],
  ['recovered', 'Recovered', 'joins and sessions'],
  ['refused', 'Refused', 'told to start over'],
];
const NOT_REPORTED = 'not reported by this server';
const tiles = new Map();
for (const [id, label, hint] of TILES) {
  const dd = el('dd', { class: 'tile-value', text: '–' });
  const note = el('p', { class: 'tile-hint', text: hint });
  const div = el('div', { class: 'tile', 'data-metric': id }, el('dt', { text: label }), dd, note);
  tiles.set(id, { dd, note, div, hint });
  $('#tiles').append(div);
}

/**
 * tile shows a figure; value is kept raw in data-value (for tests and the
 * console). A null value of a metric the scrape lacks says so in the hint.
 */
function tile(id, value, { text, hint, reported = true } = {}) {
  const t = tiles.get(id);
  t.dd.textContent = text ?? fmtNum(value);
  t.dd.dataset.value = value === null || value === undefined ? '' : String(value);
  t.note.textContent = reported ? (hint ?? t.hint) : NOT_REPORTED;
}

const fmtBytes = (v) => (v === null ? '–' : v >= 1e6 ? `${fmtNum(v / 1e6)} MB` : v >= 1e3 ? `${fmtNum(v / 1e3)} kB` : `${fmtNum(v)} B`);
const fmtMs = (v) => (v === null ? '–' : v >= 1000 ? `${fmtNum(v / 1000)} s` : `${fmtNum(v)} ms`);

// ---- one scrape ----

/** show updates every figure, chart and table from the newest scrape. */
function show(cur) {
  const prev = scrapes.length > 1 ? scrapes[scrapes.length - 2] : null;
  const old = scrapes.find((s) => cur.time - s.time <= WINDOW_MS + 500) ?? scrapes[0];
  const f = figures(prev, old, cur);
  const t = cur.time / 1000;
  const has = (name) => cur.has(name);

  tile('events', f.events);
  tile('deliveries', f.deliveries, { reported: has('rtbroker_deliveries_total') });
  tile('bytes', f.bytes, { text: f.bytes === null ? '–' : fmtBytes(f.bytes), reported: has('rtbroker_delivered_bytes_total') });
  const engines = f.engines && Object.keys(f.engines).length
    ? ` (${Object.entries(f.engines).map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
  tile('connections', f.connections, { hint: Object.entries(f.conns).map(([k, v]) => `${k} ${v}${k === 'socketio' ? engines : ''}`).join(' · ') || 'none' });
  tile('subscriptions', f.subscriptions, { text: String(f.subscriptions ?? '–'), reported: has('rtbroker_subscriptions') });
  tile('head', f.head, { text: String(f.head ?? '–') });
  tile('rooms', f.rooms, { text: String(f.rooms ?? '–') });
  tile('commits', f.commits);
  tile('batch', f.batchMean, { hint: f.batchCount ? `mean, last 10 s (${f.batchCount} commits)` : 'no commit in the last 10 s' });
  tile('fsync', f.fsyncP99, { text: fmtMs(f.fsyncP99) });
  tile('deliver', f.deliverP99, { text: fmtMs(f.deliverP99), reported: has('rtbroker_publish_deliver_seconds_count'),
    hint: f.deliverSamples ? `sampled, last 10 s (${f.deliverSamples} samples)` : 'no sample in the last 10 s' });
  tile('lag', f.lagMax, { text: f.lagMax === null ? '–' : String(f.lagMax), reported: has('rtbroker_subscriber_lag_max_events') });
  tile('replayed', f.replayed, { reported: has('rtbroker_replayed_events_total') });
  tile('recovered', f.recovered, { text: String(f.recovered ?? '–'), reported: f.recovered !== null });
  tile('refused', f.refused, { text: String(f.refused ?? '–'), reported: f.refused !== null });

  // Charts: the last interval's rates and histograms.
  charts.rates.add(t, { 'events/s': f.events, 'deliveries/s': f.deliveries, ...(f.replayed === null ? {} : { 'replayed/s': f.replayed }) });
  const conns = { ...f.conns };
  if (f.engines && 'socketio' in conns) {
    delete conns.socketio;
    for (const [k, v] of Object.entries(f.engines)) conns[`socketio ${k}`] = v;
  }
  charts.conns.add(t, conns);
  charts.batch.add(t, { mean: f.chart.batchMean, 'p95 (at most)': f.chart.batchP95 });
  charts.fsync.add(t, {
    'fsync p50': f.chart.fsyncP50,
    'fsync p99': f.chart.fsyncP99,
    'commit p99': f.chart.commitP99,
    ...(has('rtbroker_publish_deliver_seconds_count') ? { 'publish → deliver p99': f.chart.deliverP99 } : {}),
  });
  if (Object.keys(f.chart.bytesBy).length) charts.bytes.add(t, f.chart.bytesBy);
  else charts.bytes.container.dataset.empty = NOT_REPORTED;
  if (f.lagMax !== null) charts.lag.add(t, { 'largest lag': f.lagMax });
  else charts.lag.container.dataset.empty = NOT_REPORTED;

  transportsTable(f.perTransport);
  recoveriesTable(f.rec);
}

function transportsTable(perTransport) {
  const rows = Object.entries(perTransport).map(([name, p]) => el('tr', { 'data-transport': name },
    el('td', { text: name || '(none)' }),
    el('td', { class: 'num', text: String(p.open) }),
    el('td', { class: 'num', text: fmtNum(p.rate) }),
    el('td', { class: 'num', text: fmtBytes(p.bytes) }),
    el('td', { class: 'num', text: fmtMs(p.p99) })));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'No transport reported yet' })));
  $('#transports-body').replaceChildren(...rows);
}

function recoveriesTable(rec) {
  const first = firstScrape ? recoveries(firstScrape) : new Map();
  const rows = [...rec].filter(([k, v]) => v > 0 || !k.startsWith('session') || k.endsWith('recovered')).map(([k, v]) => el('tr', { 'data-outcome': k },
    el('td', { text: k }),
    el('td', { class: 'num', text: String(v) }),
    el('td', { class: 'num', text: String(Math.max(0, v - (first.get(k) ?? 0))) })));
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 3, class: 'muted', text: NOT_REPORTED })));
  $('#recoveries-body').replaceChildren(...rows);
}

// ---- rooms ----

async function rooms(time) {
  const note = $('#rooms-note');
  let body;
  try {
    const res = await get('/api/rooms');
    if (!res.ok) throw new Error(await errorText(res));
    body = await res.json();
  } catch (err) {
    note.textContent = `Could not list the rooms: ${err.message ?? err}`;
    note.classList.add('error');
    return;
  }
  note.classList.remove('error');
  const list = body.rooms ?? [];
  const totals = new Map(list.map((r) => [r.room, r.count + r.trimmed]));
  const dt = roomsPrev ? (time - roomsPrev.time) / 1000 : 0;
  const perSec = (r) => {
    const before = roomsPrev?.totals.get(r.room);
    return before === undefined || dt <= 0 ? null : Math.max(0, totals.get(r.room) - before) / dt;
  };
  const shown = [...list].sort((a, b) => b.head - a.head).slice(0, ROOMS_SHOWN);
  const rows = shown.map((r) => {
    const s = perSec(r);
    return el('tr', { 'data-room': r.room, 'data-head': r.head, class: s ? 'room-busy' : null },
      el('td', {}, el('a', { class: 'room-link', href: `/history.html?room=${encodeURIComponent(r.room)}`, title: `Browse ${r.room}'s history` }, r.room)),
      el('td', { class: 'num mono', text: String(r.head) }),
      el('td', { class: 'num', text: String(r.count) }),
      el('td', { class: 'num col-trimmed', text: String(r.trimmed) }),
      el('td', { class: 'num', text: fmtNum(s) }));
  });
  roomsPrev = { time, totals };
  if (!rows.length) rows.push(el('tr', {}, el('td', { colspan: 5, class: 'muted', text: 'No room has an event yet' })));
  $('#rooms-body').replaceChildren(...rows);
  note.textContent = list.length > ROOMS_SHOWN
    ? `${list.length} rooms; the ${ROOMS_SHOWN} with the newest events are shown.`
    : `${list.length} room${list.length === 1 ? '' : 's'} · log epoch ${body.epoch ?? '–'}`;
}

// ---- the loop ----

/** refused stops polling until a key is given, and says why. */
function refused(res, why) {
  stopped = true;
  const form = $('#key-form');
  form.hidden = false;
  const msg = res.status === 401
    ? `This server has credentials configured, so /metrics answers only an admin API key (401: ${why}). Enter one below, or serve the metrics without credentials on a private address with --metrics-addr.`
    : `The key was refused for /metrics (403: ${why}): it is not an admin key. Enter an admin API key below.`;
  $('#key-message').textContent = msg;
  document.body.dataset.access = String(res.status);
  status(`Refused (${res.status}): an admin API key is needed`, 'error');
  $('#key-input').focus();
}

async function tick() {
  timer = 0;
  if (paused || stopped) return;
  const started = performance.now();
  try {
    const res = await get('/metrics');
    if (res.status === 401 || res.status === 403) {
      refused(res, await errorText(res));
      return;
    }
    if (res.status === 404) throw new Error('/metrics is not on this address (the server runs with --metrics-addr, which serves it on a listener of its own)');
    if (!res.ok) throw new Error(await errorText(res));
    const text = await res.text();
    const now = Date.now();
    const cur = new Scrape(text, now);
    firstScrape ??= cur;
    scrapes.push(cur);
    while (scrapes.length > 2 && now - scrapes[1].time > WINDOW_MS) scrapes.shift();
    show(cur);
    await rooms(now);
    document.body.dataset.access = 'ok';
    document.body.dataset.scrapes = String(Number(document.body.dataset.scrapes ?? 0) + 1);
    const ms = Math.round(performance.now() - started);
    status('Live', 'ok', `· ${new Date(now).toLocaleTimeString()} · ${(text.length / 1000).toFixed(1)} kB in ${ms} ms${cur.skipped ? ` · ${cur.skipped} lines not understood` : ''}`);
  } catch (err) {
    status(`Could not read the metrics: ${err.message ?? err}; retrying`, 'error');
  } finally {
    if (!paused && !stopped) timer = setTimeout(tick, Number($('#interval-input').value));
  }
}

function restart() {
  clearTimeout(timer);
  timer = 0;
  tick();
}

$('#pause-btn').addEventListener('click', (e) => {
  paused = !paused;
  e.currentTarget.setAttribute('aria-pressed', String(paused));
  e.currentTarget.textContent = paused ? 'Resume' : 'Pause';
  if (paused) {
    clearTimeout(timer);
    status('Paused', 'idle');
  } else {
    restart();
  }
});

$('#interval-input').addEventListener('change', restart);

$('#key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  key = $('#key-input').value.trim();
  try { if (key) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE); } catch { /* storage disabled */ }
  $('#key-input').value = '';
  $('#key-message').textContent = key ? 'Using the key you entered.' : 'No key: trying without one.';
  stopped = false;
  restart();
});

$('#key-forget').addEventListener('click', () => {
  key = '';
  try { sessionStorage.removeItem(KEY_STORE); } catch { /* storage disabled */ }
  $('#key-message').textContent = 'Key forgotten.';
  stopped = false;
  restart();
});

if (key) {
  $('#key-form').hidden = false;
  $('#key-message').textContent = 'Using the admin key kept in this tab.';
}
tick();
globalThis.rtDashboard = { scrapes, charts }; // for the console
