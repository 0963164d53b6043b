// The five transports of the transports page, each a real client of one
// of rtbroker's public interfaces, reading one room from an offset.
//
// A transport is built with a context from the page:
//   { room, type, token,
//     events(list),           // committed events of `type`, as the REST API shows them
//     state(state, text),     // 'connecting' | 'live' | 'reconnecting' | 'offline'
//     request(),              // one HTTP request or WebSocket handshake went out
//     bytes(n),               // n bytes of payload arrived (frames, bodies)
//     note(kind, text) }      // 'info' | 'error': a remark on the connection
// and offers start(after), drop() (a real network drop: the transport is
// closed under the client library without telling the server, and comes
// back on its own), offline(ms) (a drop that stays down for ms), stop().
// Each one resumes after the last offset it delivered; the page checks
// that nothing is missing or repeated.

const POLL_HOLD = '25s';
const RETRY_MS = 500; // how soon a dropped transport comes back
const PAGE = 1000; // events per history or long-poll page

const enc = new TextEncoder();
/** utf8 is the byte length of a string as it went over the wire. */
export const utf8 = (s) => (typeof s === 'string' ? enc.encode(s).length : s?.byteLength ?? 0);

/** query builds a query string, skipping empty values. */
function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.append(k, String(v));
  }
  return q.toString();
}

/** sleep resolves after ms, or at once when signal aborts. */
const sleep = (ms, signal) => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/**
 * Base keeps what every transport shares: the context, the resume
 * position (last), the stop signal, and the end of an offline period.
 */
class Base {
  constructor(ctx) {
    this.ctx = ctx;
    this.last = 0; // offset of the last event delivered; resume after it
    this.stopped = new AbortController();
    this.offlineUntil = 0; // Date.now() before which the transport stays down
  }

  /** deliver passes the events of the page's type on, advancing last. */
  deliver(list) {
    const mine = [];
    for (const e of list) {
      if (!e.offset || e.offset <= this.last) continue;
      this.last = e.offset;
      if (e.type === this.ctx.type) mine.push(e);
    }
    if (mine.length) this.ctx.events(mine);
  }

  /** waitOffline sleeps until an offline period is over. */
  async waitOffline() {
    const ms = this.offlineUntil - Date.now();
    if (ms > 0) {
      this.ctx.state('offline', `offline for ${Math.ceil(ms / 1000)} s`);
      await sleep(ms, this.stopped.signal);
    }
  }

  offline(ms) {
    this.offlineUntil = Date.now() + ms;
    this.drop();
  }

  stop() { this.stopped.abort(); }
}

/**
 * SSE reads /sse with the browser's EventSource. The browser reconnects
 * on its own (Last-Event-ID); a drop closes the EventSource, which aborts
 * its request with no goodbye, and a new one resumes with ?after=.
 */
export class SSE extends Base {
  static id = 'sse';
  static title = 'SSE (EventSource)';
  static about = 'One long-lived HTTP response; the server writes a text frame per event. Resumes with Last-Event-ID.';

  start(after) {
    this.last = after;
    this.open();
  }

  open() {
    if (this.stopped.signal.aborted) return;
    const { ctx } = this;
    ctx.state('connecting', 'opening EventSource');
    ctx.request();
    const es = new EventSource('/sse?' + query({ room: ctx.room, after: this.last, token: ctx.token }));
    this.es = es;
    es.onopen = () => ctx.state('live', 'EventSource open');
    es.addEventListener(ctx.type, (m) => {
      ctx.bytes(utf8(`id: ${m.lastEventId}\nevent: ${ctx.type}\ndata: ${m.data}\n\n`));
      this.deliver([JSON.parse(m.data)]);
    });
    es.addEventListener('reset', (m) => ctx.note('error', `reset: ${m.data}`));
    es.onerror = () => {
      if (es !== this.es) return;
      if (es.readyState === EventSource.CLOSED) {
        ctx.state('reconnecting', 'refused; retrying');
        setTimeout(() => this.open(), RETRY_MS * 4);
      } else {
        ctx.state('reconnecting', 'EventSource reconnecting');
        ctx.request();
      }
    };
  }

  async drop() {
    this.es?.close();
    this.es = null;
    this.ctx.state('reconnecting', 'dropped');
    await sleep(RETRY_MS, this.stopped.signal);
    await this.waitOffline();
    this.open();
  }

  stop() {
    super.stop();
    this.es?.close();
  }
}

/**
 * Fetching is the base of the two HTTP polling transports: a loop of
 * fetches, each abortable, that a drop aborts mid-flight.
 */
class Fetching extends Base {
  start(after) {
    this.last = after;
    this.loop();
  }

  /** get fetches path as JSON, counting the request and its body bytes. */
  async get(path) {
    const { ctx } = this;
    this.inflight = new AbortController();
    const headers = ctx.token ? { Authorization: `Bearer ${ctx.token}` } : {};
    ctx.request();
    const res = await fetch(path, { cache: 'no-store', headers, signal: this.inflight.signal });
    const text = await res.text();
    ctx.bytes(utf8(text));
    let body;
    try { body = JSON.parse(text); } catch { throw new Error(`status ${res.status}`); }
    if (!res.ok) throw new Error(body?.error?.message ?? `status ${res.status}`);
    if (body.reset) ctx.note('error', `reset: ${JSON.stringify(body.reset)}`);
    return body;
  }

  async loop() {
    const { ctx } = this;
    let failures = 0;
    while (!this.stopped.signal.aborted) {
      await this.waitOffline();
      if (this.stopped.signal.aborted) return;
      if (this.dropped) {
        this.dropped = false;
        await sleep(RETRY_MS, this.stopped.signal);
        continue;
      }
      try {
        if (failures === 0) ctx.state('live', this.liveText);
        const body = await this.get(this.path());
        failures = 0;
        this.deliver(body.events ?? []);
        if (body.next > this.last) this.last = body.next;
        await this.pause();
      } catch (err) {
        if (this.stopped.signal.aborted) return;
        if (err.name === 'AbortError') continue; // a drop: dropped is set
        failures++;
        ctx.state('reconnecting', String(err.message ?? err));
        await sleep(Math.min(15000, RETRY_MS * 2 ** failures), this.stopped.signal);
      }
    }
  }

  /** pause waits between requests (short-poll); none for long-poll. */
  async pause() {}

  drop() {
    this.dropped = true;
    this.ctx.state('reconnecting', 'dropped');
    this.inflight?.abort();
    this.wake?.abort();
  }

  stop() {
    super.stop();
    this.inflight?.abort();
  }
}

/** LongPoll holds GET /poll open until an event exists, then asks again. */
export class LongPoll extends Fetching {
  static id = 'longpoll';
  static title = 'Long-poll';
  static about = 'A GET held open until an event exists; one request per batch of events, sent again at once.';
  liveText = 'request held open';

  path() {
    return '/poll?' + query({ room: this.ctx.room, after: this.last, timeout: POLL_HOLD, limit: PAGE, token: this.ctx.token });
  }
}

/**
 * ShortPoll asks the history API every interval ms (the page's control),
 * whether or not anything happened.
 */
export class ShortPoll extends Fetching {
  static id = 'shortpoll';
  static title = 'Short-poll (history API)';
  static about = 'A GET of the history API on a fixed interval, events or not; latency is about half the interval.';
  liveText = 'polling';

  constructor(ctx) {
    super(ctx);
    this.interval = ctx.interval ?? 1000;
  }

  path() {
    return `/api/rooms/${encodeURIComponent(this.ctx.room)}/events?` + query({ after: this.last, limit: PAGE });
  }

  async pause() {
    this.wake = new AbortController();
    await sleep(this.interval, AbortSignal.any([this.stopped.signal, this.wake.signal]));
  }

  /** setInterval changes the polling interval from the next request on. */
  setInterval(ms) {
    this.interval = ms;
    this.wake?.abort();
  }
}

/**
 * SocketIO is socket.io-client (the bundle the server serves) on one
 * Engine.IO transport: WebSocket only or HTTP long-polling only. It counts
 * what arrives by wrapping the Engine.IO transport's onData (and, for
 * polling, its requests). On connect it keeps a recovered session as is,
 * else it joins the room after its last offset.
 */
class SocketIO extends Base {
  start(after) {
    const { ctx } = this;
    this.last = after;
    const s = globalThis.io({
      forceNew: true,
      transports: [this.constructor.wire],
      upgrade: false,
      reconnectionDelay: RETRY_MS,
      reconnectionDelayMax: 4000,
      auth: (cb) => cb(ctx.token ? { token: ctx.token } : {}),
    });
    this.socket = s;
    this.instrument();
    ctx.state('connecting', 'io()');
    s.on('connect', () => this.connected());
    s.on(ctx.type, (data, meta) => this.deliver([{ offset: meta.offset, id: meta.id, type: ctx.type, data, time: meta.time, from: meta.from, room: meta.room }]));
    s.on('reset', (r) => ctx.note('error', `reset: ${JSON.stringify(r)}`));
    s.on('disconnect', (reason) => ctx.state(this.offlineUntil > Date.now() ? 'offline' : 'reconnecting', reason));
    s.on('connect_error', (err) => ctx.state('reconnecting', String(err.message ?? err)));
  }

  async connected() {
    const { ctx, socket: s } = this;
    const wire = s.io.engine.transport.name;
    if (s.recovered) {
      ctx.state('live', `${wire} · session recovered`);
      return;
    }
    try {
      const ack = await s.timeout(10000).emitWithAck('room:join', { room: ctx.room, after: this.last });
      if (!ack?.ok) throw new Error(ack?.error?.message ?? 'join refused');
      ctx.state('live', `${wire} · joined after ${this.last}`);
    } catch (err) {
      ctx.note('error', `room:join: ${err.message ?? err}`);
    }
  }

  /** instrument wraps every Engine.IO transport the manager opens. */
  instrument() {
    const m = this.socket.io;
    const open = m.open.bind(m);
    m.open = (...args) => {
      const r = open(...args);
      this.wrap(m.engine?.transport, true);
      return r;
    };
    this.wrap(m.engine?.transport, true);
  }

  wrap(t, fresh) {
    if (!t || t.rtCounted) return;
    t.rtCounted = true;
    const { ctx } = this;
    if (fresh) ctx.request(); // the handshake (or the WebSocket upgrade request) is already out
    const onData = t.onData.bind(t);
    t.onData = (d) => { ctx.bytes(utf8(d)); onData(d); };
    if (t.name === 'polling') {
      const doPoll = t.doPoll.bind(t);
      t.doPoll = () => { ctx.request(); doPoll(); };
      const doWrite = t.doWrite.bind(t);
      t.doWrite = (d, fn) => { ctx.request(); doWrite(d, fn); };
    }
  }

  /** cut closes the Engine.IO transport under the client, with no goodbye. */
  cut() {
    const t = this.socket.io.engine?.transport;
    if (!t) return;
    if (t.ws) {
      t.ws.close(); // the WebSocket goes; no Socket.IO or Engine.IO close packet
      return;
    }
    // The held poll: its XMLHttpRequest (a private field of the client's
    // request object) is aborted, which closes its TCP connection, after
    // the request object lets go of it so no error is reported.
    const req = t.pollXhr;
    const xhr = req && Object.values(req).find((v) => v instanceof XMLHttpRequest);
    req?.abort();
    xhr?.abort();
    t.onClose({ description: 'dropped by the page' });
  }

  drop() {
    this.ctx.state('reconnecting', 'dropped');
    this.cut();
  }

  offline(ms) {
    const m = this.socket.io;
    this.offlineUntil = Date.now() + ms;
    m.reconnection(false);
    this.cut();
    this.ctx.state('offline', `offline for ${Math.ceil(ms / 1000)} s`);
    sleep(ms, this.stopped.signal).then(() => {
      if (this.stopped.signal.aborted) return;
      m.reconnection(true);
      this.socket.connect();
    });
  }

  stop() {
    super.stop();
    this.socket?.disconnect();
  }
}

/** SocketIOWebSocket is Socket.IO over WebSocket only. */
export class SocketIOWebSocket extends SocketIO {
  static id = 'sio-websocket';
  static title = 'Socket.IO · WebSocket';
  static about = 'One WebSocket both ways; a small frame per event, no HTTP headers after the handshake.';
  static wire = 'websocket';
}

/** SocketIOPolling is Socket.IO over HTTP long-polling only. */
export class SocketIOPolling extends SocketIO {
  static id = 'sio-polling';
  static title = 'Socket.IO · polling';
  static about = 'Engine.IO long-polling: a held GET for what arrives, a POST for what is sent; works where WebSockets do not.';
  static wire = 'polling';
}

/** TRANSPORTS is the page's panels, in order. */
export const TRANSPORTS = [SocketIOWebSocket, SocketIOPolling, SSE, LongPoll, ShortPoll];
