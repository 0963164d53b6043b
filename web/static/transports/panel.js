// A panel shows one transport: its state, the events it received with
// their offsets and latency, what it cost so far, and a running check
// that it has every event the page knows of, once, in order.
//
// Replayed events: when the panel drops (a button, or the network), it
// remembers the last offset it had; every event the page learns of while
// the panel is down (publish acks, the other panels) is one the panel
// must be sent again on its return. Such events are marked "replayed" when
// they arrive, whenever that is. Events published by others while every
// panel was down are learnt from the room's head, read as the panel comes
// back: events up to it that arrived since the drop are marked then.

import { el, fmtBytes, fmtMs, quantile } from './util.js';

const MAX_ROWS = 400; // rows kept in the DOM; the check covers every event
const STATES = { connecting: 'connecting', live: 'live', reconnecting: 'reconnecting', offline: 'offline' };

/**
 * Panel owns one transport instance and its DOM. page is
 *   { room, type, token, interval, known, offlineMs(),
 *     latency(id, offset, ms), unlatency(id, offset), head() }
 * where known is the page's set of offsets of the room.
 */
export class Panel {
  constructor(T, page) {
    this.T = T;
    this.page = page;
    this.seen = new Set();
    this.count = 0;
    this.last = 0;
    this.duplicates = [];
    this.disorder = [];
    this.requests = 0;
    this.bytes = 0;
    this.reconnects = 0;
    this.live = false;
    this.outage = false;
    this.down = false;
    this.replayFrom = 0; // events in (replayFrom, replayTo] arrive replayed
    this.replayTo = 0;
    this.replayed = 0;
    this.latencies = []; // of live events, ms
    this.latencyOffsets = []; // their offsets, index for index
    this.build();
  }

  build() {
    const { T } = this;
    const h = `h-${T.id}`;
    const stat = (label, cls) => el('div', {}, el('dt', { text: label }), el('dd', { class: `mono ${cls}`, text: '–' }));
    this.statusEl = el('span', { class: 'status', role: 'status' },
      el('span', { class: 'dot', 'aria-hidden': 'true' }), el('span', { class: 'status-text', text: 'idle' }));
    this.detailEl = el('p', { class: 'panel-detail muted small', text: '' });
    this.checkEl = el('p', { class: 'check-line small', role: 'status', 'aria-live': 'polite', text: 'No events yet' });
    this.costEl = el('p', { class: 'cost small', text: T.about });
    this.noteEl = el('p', { class: 'panel-note small', role: 'alert', hidden: true });
    this.dropBtn = el('button', { type: 'button', class: 'btn btn-ghost btn-drop', 'aria-describedby': h, text: 'Drop connection' });
    this.offlineBtn = el('button', { type: 'button', class: 'btn btn-ghost btn-offline', 'aria-describedby': h, text: 'Offline' });
    this.list = el('ol', { class: 'events', 'aria-label': `Events received over ${T.title}, oldest first` });
    this.root = el('article', { class: 'card tpanel', 'data-transport': T.id, 'aria-labelledby': h },
      el('header', { class: 'panel-head' },
        el('div', { class: 'panel-title' }, el('h2', { id: h, text: T.title }), this.detailEl),
        this.statusEl),
      el('dl', { class: 'tstats' },
        stat('Events', 'st-count'), stat('Offset', 'st-offset'), stat('p50', 'st-p50'),
        stat('Requests', 'st-requests'), stat('Bytes in', 'st-bytes'), stat('Reconnects', 'st-reconnects')),
      this.checkEl,
      el('div', { class: 'panel-actions' }, this.dropBtn, this.offlineBtn),
      this.noteEl,
      this.costEl,
      el('div', { class: 'events-wrap', tabindex: '0', role: 'region', 'aria-label': `${T.title} events` }, this.list));
    this.dropBtn.addEventListener('click', () => this.drop());
    this.offlineBtn.addEventListener('click', () => this.offline(this.page.offlineMs()));
    this.setState('connecting', '');
  }

  /** start runs the transport from after (exclusive). */
  start(after) {
    this.from = after;
    this.last = after;
    const ctx = {
      room: this.page.room,
      type: this.page.type,
      token: this.page.token,
      interval: this.page.interval,
      events: (list) => this.receive(list),
      state: (s, text) => this.setState(s, text),
      request: () => { this.requests++; this.dirty(); },
      bytes: (n) => { this.bytes += n; this.dirty(); },
      note: (kind, text) => this.note(kind, text),
    };
    this.transport = new this.T(ctx);
    this.transport.start(after);
  }

  /** markDown starts a replay window at the last offset received. */
  markDown() {
    if (this.down) return;
    this.down = true;
    this.replayFrom = this.last;
    this.replayTo = this.page.known.head;
  }

  /** knownGrew extends the replay window while the panel is down. */
  knownGrew(head) {
    if (this.down) this.replayTo = Math.max(this.replayTo, head);
  }

  drop() {
    this.markDown();
    this.transport.drop();
  }

  offline(ms) {
    this.markDown();
    this.transport.offline(ms);
  }

  setState(state, text) {
    const s = STATES[state] ?? 'connecting';
    if (s === 'live') {
      if (!this.live) {
        if (this.outage) {
          this.reconnects++;
          this.page.head().then((h) => this.settle(h), () => {});
        }
        this.live = true;
        this.outage = false;
        this.down = false;
      }
    } else if (this.live && s !== 'connecting') {
      this.live = false;
      this.outage = true;
      this.markDown();
    }
    this.root.dataset.status = s;
    this.statusEl.dataset.state = s === 'offline' ? 'reconnecting' : s;
    this.statusEl.querySelector('.status-text').textContent = s;
    if (text !== undefined) this.detailEl.textContent = text;
    this.dirty();
  }

  /**
   * settle widens the replay window to head, the room's head read as the
   * panel came back, and marks the rows already shown inside it.
   */
  settle(head) {
    if (head <= this.replayTo) return;
    const from = this.replayFrom;
    this.replayTo = head;
    for (const li of this.list.children) {
      const o = Number(li.dataset.offset);
      if (o <= from || o > head || li.dataset.replayed === '1') continue;
      li.dataset.replayed = '1';
      li.classList.add('event-replayed');
      li.querySelector('.ev-offset').after(el('span', { class: 'ev-tag ev-replayed', text: 'replayed' }));
      this.replayed++;
      const i = this.latencyOffsets.indexOf(o);
      if (i >= 0) {
        this.latencyOffsets.splice(i, 1);
        this.latencies.splice(i, 1);
        this.page.unlatency(this.T.id, o);
      }
    }
    this.dirty();
  }

  note(kind, text) {
    this.noteEl.hidden = false;
    this.noteEl.dataset.kind = kind;
    this.noteEl.textContent = text;
  }

  /** receive takes committed events in the order the transport got them. */
  receive(list) {
    const now = performance.timeOrigin + performance.now();
    const wrap = this.list.parentElement;
    const follow = wrap.scrollHeight - wrap.scrollTop - wrap.clientHeight < 80;
    for (const e of list) {
      const o = e.offset;
      if (this.seen.has(o)) this.duplicates.push(o);
      else this.seen.add(o);
      if (o < this.last) this.disorder.push(o);
      this.last = Math.max(this.last, o);
      this.count++;
      const replayed = o > this.replayFrom && o <= this.replayTo;
      const sent = Number(e.data?.sent);
      const ms = Number.isFinite(sent) && sent > 0 ? Math.max(0, now - sent) : null;
      if (replayed) this.replayed++;
      else if (ms !== null) {
        this.latencies.push(ms);
        this.latencyOffsets.push(o);
        this.page.latency(this.T.id, o, ms);
      }
      this.page.known.add(o);
      this.row(e, replayed, ms);
    }
    if (follow) wrap.scrollTop = wrap.scrollHeight;
    this.dirty();
  }

  row(e, replayed, ms) {
    const text = typeof e.data?.text === 'string' ? e.data.text : JSON.stringify(e.data);
    const li = el('li', { class: replayed ? 'event event-replayed' : 'event', 'data-offset': e.offset, 'data-replayed': replayed ? '1' : '0' },
      el('div', { class: 'event-meta' },
        el('span', { class: 'ev-offset mono', title: 'Offset in the log', text: String(e.offset) }),
        replayed ? el('span', { class: 'ev-tag ev-replayed', text: 'replayed' }) : null,
        el('span', { class: 'ev-lat mono', title: 'Publish → receive', text: ms === null ? '' : fmtMs(ms) })),
      el('div', { class: 'ev-data', text }));
    this.list.append(li);
    while (this.list.childElementCount > MAX_ROWS) this.list.firstElementChild.remove();
  }

  /** dirty schedules a render of the figures (at most ten a second). */
  dirty() {
    if (this.timer) return;
    this.timer = setTimeout(() => { this.timer = 0; this.render(); }, 100);
  }

  /** missing lists the known offsets up to the last received that never came. */
  missing() {
    const out = [];
    for (const o of this.page.known.offsets) {
      if (o <= this.from) continue;
      if (o > this.last) break;
      if (!this.seen.has(o)) out.push(o);
    }
    return out;
  }

  render() {
    const q = (c) => this.root.querySelector(c);
    const p50 = quantile(this.latencies, 0.5);
    const p95 = quantile(this.latencies, 0.95);
    q('.st-count').textContent = String(this.count);
    q('.st-offset').textContent = this.last > this.from ? String(this.last) : '–';
    q('.st-p50').textContent = p50 === null ? '–' : fmtMs(p50);
    q('.st-requests').textContent = String(this.requests);
    q('.st-bytes').textContent = fmtBytes(this.bytes);
    q('.st-reconnects').textContent = String(this.reconnects);
    this.offlineBtn.textContent = `Offline ${this.page.offlineMs() / 1000} s`;

    const missing = this.missing();
    let check = 'ok';
    let text = `✓ No gap, no duplicate: ${this.count} events in order`;
    if (this.replayed) text += `, ${this.replayed} replayed`;
    if (this.duplicates.length) {
      check = 'duplicate';
      text = `✗ Duplicate: offsets ${this.duplicates.slice(0, 8).join(', ')}`;
    } else if (this.disorder.length) {
      check = 'order';
      text = `✗ Out of order: offsets ${this.disorder.slice(0, 8).join(', ')}`;
    } else if (missing.length) {
      check = 'gap';
      text = `✗ Gap: missing offsets ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? '…' : ''}`;
    } else if (!this.count) {
      text = 'No events yet';
    }
    this.root.dataset.check = check;
    this.checkEl.dataset.check = check;
    if (this.checkEl.textContent !== text) this.checkEl.textContent = text;

    const perEvent = this.count ? fmtBytes(this.bytes / this.count) : '–';
    const lat = p50 === null ? 'no live latency yet' : `latency p50 ${fmtMs(p50)}, p95 ${fmtMs(p95)} over ${this.latencies.length} live events`;
    this.costEl.textContent = `${this.T.about} Measured: ${this.requests} requests, ${fmtBytes(this.bytes)} in, ${perEvent} per event; ${lat}.`;
  }

  stop() { this.transport?.stop(); }
}
