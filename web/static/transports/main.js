// The transports page: one room read over five transports side by side,
// with a shared publish box, bursts, a live latency chart and, per panel,
// "drop connection" and "offline for N s" to watch the log replay what a
// client missed.
//
// Every transport starts after the room's head as the page loads, so all
// panels should end with the same events. Published events carry
// data.sent (the page's clock, ms) for the publish → receive latency.

import { LatencyChart } from './chart.js';
import { Panel } from './panel.js';
import { TRANSPORTS } from './transports.js';

const TYPE = 'transports:ping';
// Publishes in flight during a burst: browsers allow six HTTP/1.1
// connections per host, and the panels hold three (SSE, long-poll,
// Socket.IO polling) plus the short-poll's requests.
const BURST_PARALLEL = 2;
const $ = (sel) => document.querySelector(sel);

/** Known is the page's set of offsets of the room's events of TYPE. */
class Known {
  constructor(onGrow) {
    this.set = new Set();
    this.offsets = []; // sorted
    this.head = 0;
    this.onGrow = onGrow;
  }

  add(o) {
    if (this.set.has(o)) return;
    this.set.add(o);
    let i = this.offsets.length;
    while (i > 0 && this.offsets[i - 1] > o) i--;
    this.offsets.splice(i, 0, o);
    if (o > this.head) {
      this.head = o;
      this.onGrow(o);
    }
  }
}

const params = new URLSearchParams(location.search);
const room = params.get('room') || 'transports';
let token = '';
try { token = sessionStorage.getItem('rtbroker.token') ?? ''; } catch { /* storage disabled */ }

/** api fetches JSON with the page's token; a failure throws the server's message. */
async function api(path, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { cache: 'no-store', ...init, headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.error?.message ?? `status ${res.status}`);
  return body;
}

const panels = [];
const known = new Known((head) => { for (const p of panels) p.knownGrew(head); });
const chart = new LatencyChart($('#chart'), TRANSPORTS);
const page = {
  room,
  type: TYPE,
  token,
  known,
  interval: Number($('#interval-input').value),
  offlineMs: () => Math.min(60, Math.max(1, Number($('#offline-input').value) || 5)) * 1000,
  latency: (id, offset, ms) => chart.add(id, offset, ms),
  unlatency: (id, offset) => chart.remove(id, offset),
  head: roomHead,
};

/** roomHead reads the log's head offset: no event of the room is newer. */
async function roomHead() {
  const body = await api(`/api/rooms/${encodeURIComponent(room)}/events?before=&limit=1`);
  return body.head ?? 0;
}

let seq = 0;
/** publish sends one event over HTTP and adds its offset to the known set. */
async function publish(text) {
  const sent = performance.timeOrigin + performance.now();
  const ev = await api(`/api/rooms/${encodeURIComponent(room)}/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ type: TYPE, data: { text, sent, n: ++seq } }),
  });
  known.add(ev.offset);
  return ev;
}

function status(text, state) {
  const st = $('#publish-status');
  st.textContent = text;
  st.dataset.state = state;
}

/** burst publishes n events, BURST_PARALLEL at a time. */
async function burst(n) {
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < n) {
      const i = ++next;
      await publish(`burst ${i}/${n}`);
      done++;
      status(`Burst: ${done}/${n} committed`, 'busy');
    }
  };
  await Promise.all(Array.from({ length: Math.min(BURST_PARALLEL, n) }, worker));
}

/** guard runs a form action with the form's buttons disabled, reporting errors. */
async function guard(form, action) {
  const buttons = form.querySelectorAll('button');
  for (const b of buttons) b.disabled = true;
  try {
    status(await action(), 'ok');
  } catch (err) {
    status(`Failed: ${err.message ?? err}`, 'error');
  } finally {
    for (const b of buttons) b.disabled = false;
  }
}

$('#publish-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#text-input');
  const text = input.value.trim() || 'ping';
  guard(e.currentTarget, async () => {
    const ev = await publish(text);
    input.value = '';
    return `Committed at offset ${ev.offset}`;
  });
});

$('#burst-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const n = Math.min(1000, Math.max(1, Number($('#burst-input').value) || 1));
  guard(e.currentTarget, async () => {
    await burst(n);
    return `Burst of ${n} committed`;
  });
});

$('#interval-input').addEventListener('change', (e) => {
  page.interval = Number(e.target.value);
  for (const p of panels) p.transport?.setInterval?.(page.interval);
});
$('#offline-input').addEventListener('change', () => { for (const p of panels) p.render(); });

$('#room-input').value = room;

/** main finds the log's head and starts every transport after it. */
async function main() {
  let head = 0;
  try {
    head = await roomHead();
  } catch (err) {
    status(`Could not read the room: ${err.message ?? err}`, 'error');
  }
  $('#start-offset').textContent = String(head);
  const box = $('#panels');
  for (const T of TRANSPORTS) {
    const p = new Panel(T, page);
    panels.push(p);
    box.append(p.root);
  }
  for (const p of panels) p.start(head);
  document.body.dataset.ready = '1';
}

main();
globalThis.rtTransports = { panels, known }; // for the browser test and the console
