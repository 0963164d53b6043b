// rtbroker UI: one room, watched through every transport side by side.
//
// No framework and no build step. Text from the server or the user only
// ever reaches the page through textContent and setAttribute; nothing here
// assigns innerHTML.
//
// Shape:
//   - connect(room) reads the room's recent history once (REST), shows it in
//     every panel, and starts every transport after the newest offset read,
//     so each panel goes on from the same position with no gap.
//   - TRANSPORTS is the list of transport factories (SSE, long-polling,
//     Socket.IO). A panel is built for each.
//   - A transport is an object
//       { id, title, detail,
//         start(session),          // subscribe; session is described below
//         stop(),                  // unsubscribe; no callback fires after it
//         learnType(type, offset)  // optional: an event type was seen
//         publish(room, type, text, ephemeral) // optional: → Promise of {offset?}
//       }
//     and session is
//       { room, after, epoch, types,   // where to start; types seen so far
//         status(state, text),         // 'connecting' | 'live' | 'reconnecting'
//         events(list),                // event objects as the REST API shows them
//         reset(info),                 // {reason, requested, resume}
//         detail(text, badge),         // the header line, with a badge (e.g. the wire transport)
//         note(kind, text) }           // 'ok' | 'info' | 'error': a remark on the connection
//   - The optional token (the Token field, kept in sessionStorage for the
//     tab) is sent the way each client can: Authorization: Bearer for
//     fetch (history, rooms, HTTP publish), ?token= for EventSource and the
//     long-poll, and auth.token in Socket.IO's CONNECT (read again at every
//     reconnect). Without one the server's anonymous permissions apply.
'use strict';

import { el } from './transports/util.js'; // one element builder for both pages

(() => {
  const HISTORY_PAGE = 50; // events read on connect and per "Load older"
  const MAX_ROWS = 500; // rows kept in each panel's DOM
  const ROOMS_REFRESH_MS = 5000;
  const POLL_HOLD = '25s'; // how long the server holds a long-poll
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 15000;

  // ---- small helpers -----------------------------------------------------

  const $ = (sel, root = document) => root.querySelector(sel);

  const sleep = (ms, signal) => new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });

  /** backoff returns the next retry delay (with jitter) after delay. */
  const backoff = (delay) => Math.min(RETRY_MAX_MS, delay * 2) * (0.75 + Math.random() * 0.5);

  /**
   * errorText formats a wire error {code, message} (the message may
   * already start with the code, as the server's auth errors do).
   */
  function errorText(e) {
    if (!e) return 'unknown error';
    const msg = String(e.message ?? e);
    return e.code && !msg.startsWith(`${e.code}:`) ? `${e.code}: ${msg}` : msg;
  }

  /** ApiError is a failed request, with the server's {"error":{code,message}}. */
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
    toString() { return errorText(this); }
  }

  // ---- identity ------------------------------------------------------------

  const TOKEN_KEY = 'rtbroker.token';
  let token = '';
  try { token = sessionStorage.getItem(TOKEN_KEY) ?? ''; } catch { /* storage disabled */ }

  /**
   * tokenClaims reads a JWT's payload for display only: the server
   * verifies the token, the page never needs to. null when tok is not a JWT.
   */
  function tokenClaims(tok) {
    const part = tok.split('.')[1];
    if (!part) return null;
    try {
      const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const c = JSON.parse(new TextDecoder().decode(bytes));
      return c && typeof c === 'object' ? c : null;
    } catch {
      return null;
    }
  }

  /** showIdentity shows who the token says the page is. */
  function showIdentity() {
    const dd = $('#identity');
    const c = token ? tokenClaims(token) : null;
    if (!token) {
      dd.textContent = 'anonymous';
      dd.title = "No token: the server's anonymous permissions apply";
    } else if (c && typeof c.sub === 'string') {
      dd.textContent = c.sub;
      const exp = typeof c.exp === 'number' ? ` · expires ${new Date(c.exp * 1000).toLocaleString()}` : '';
      const roles = [c.roles, c.role].flat().filter((r) => typeof r === 'string' && r);
      dd.title = `Token subject ${c.sub}${roles.length ? ` · roles ${roles.join(', ')}` : ''}${exp}`;
    } else {
      dd.textContent = 'token';
      dd.title = 'The token is not a JWT the page can read; the server decides';
    }
  }

  /** setToken changes the token every transport uses from now on. */
  function setToken(t) {
    token = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage disabled */ }
    showIdentity();
  }

  /** authError reports an error the token (or its absence) caused. */
  const authError = (err) => err?.code === 'unauthorized' || err?.code === 'forbidden';

  /**
   * api fetches JSON; failures become ApiError with the wire error's code.
   * The token goes in Authorization: Bearer unless bearer is false (the
   * URL carries it as ?token=).
   */
  async function api(path, init = {}, { bearer = true } = {}) {
    let res;
    const headers = new Headers(init.headers);
    if (bearer && token) headers.set('Authorization', `Bearer ${token}`);
    try {
      res = await fetch(path, { cache: 'no-store', ...init, headers });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', 'server unreachable');
    }
    let body = null;
    try { body = await res.json(); } catch { /* not JSON */ }
    if (!res.ok) {
      const e = body && body.error;
      throw new ApiError(res.status, e?.code ?? `http_${res.status}`, e?.message ?? res.statusText);
    }
    return body;
  }

  const roomURL = (room) => `/api/rooms/${encodeURIComponent(room)}/events`;

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined || v === null || v === '') continue;
      for (const x of Array.isArray(v) ? v : [v]) q.append(k, String(x));
    }
    return q.toString();
  }

  /** dataText is what an event row shows of its data. */
  function dataText(data) {
    if (data && typeof data === 'object' && !Array.isArray(data) && typeof data.text === 'string') {
      return { text: data.text, raw: false };
    }
    if (typeof data === 'string') return { text: data, raw: false };
    return { text: JSON.stringify(data), raw: true };
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function clock(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return '';
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  // ---- transports ----------------------------------------------------------

  /**
   * Server-Sent Events through the browser's EventSource.
   *
   * The gateway names each frame after the event's type (`event:
   * chat:message`), and EventSource only dispatches a named frame to
   * listeners registered for that exact name: `onmessage` sees only frames
   * without a name (or named "message"). So this panel uses `onmessage` for
   * typeless frames and registers one listener per type, dynamically: the
   * types found in the history read on connect, the publish form's type
   * (registered before the publish is sent), and any type another transport
   * or "Load older" reports through learnType. A frame whose type had no
   * listener yet when it arrived is dropped by EventSource; when a type is
   * learned from an event after this stream's start, the stream is reopened
   * from before that event, so the panel still shows every event once
   * (panels drop offsets they already show).
   *
   * Resuming is EventSource's own: the frame id is the log offset, and on a
   * reconnect the browser sends it back as Last-Event-ID. Only when the
   * browser gives up (the server answered with an error status) does the
   * panel open a new EventSource itself, from the last offset it received.
   */
  function sseTransport() {
    let session = null;
    let es = null;
    let epoch = ''; // the log epoch our offsets belong to
    let types = new Set();
    let start = 0; // offset the session started after
    let last = 0; // highest offset received
    let retry = RETRY_MIN_MS;
    let retryTimer = 0;

    function onEvent(e) {
      if (!session || e.target !== es) return; // a stream we closed
      if (typeof e.data !== 'string') return; // EventSource's own "error"/"open"
      let ev;
      try { ev = JSON.parse(e.data); } catch { return; }
      if (e.type === 'reset' && ev && ev.offset === undefined && 'resume' in ev) {
        // The frame's id is ev.resume, so the browser would resume there,
        // but with this URL's stale epoch= when the log was recreated:
        // reopen with the new epoch instead.
        start = last = ev.resume;
        session.reset(ev);
        if (ev.epoch && ev.epoch !== epoch) {
          epoch = ev.epoch;
          open(ev.resume);
        }
        return;
      }
      if (ev.offset) last = Math.max(last, ev.offset);
      session.events([ev]);
    }

    function open(after) {
      close();
      const s = session;
      es = new EventSource('/sse?' + query({ room: s.room, after, epoch, token }));
      es.onopen = () => { retry = RETRY_MIN_MS; s.status('live'); };
      es.onerror = () => {
        if (s !== session) return;
        if (es.readyState === EventSource.CLOSED) {
          // The browser gave up (an error status, or a bad content type):
          // come back ourselves, from where we are.
          s.status('reconnecting', `retrying in ${Math.round(retry / 1000)}s`);
          clearTimeout(retryTimer);
          retryTimer = setTimeout(() => { if (s === session) open(last); }, retry);
          retry = backoff(retry);
        } else {
          s.status('reconnecting', 'resuming from Last-Event-ID');
        }
      };
      es.onmessage = onEvent; // frames without an event name
      es.addEventListener('reset', onEvent);
      for (const t of types) es.addEventListener(t, onEvent);
    }

    function close() {
      clearTimeout(retryTimer);
      if (es) {
        es.onopen = es.onerror = es.onmessage = null;
        es.close();
        es = null;
      }
    }

    return {
      id: 'sse',
      title: 'SSE (EventSource)',
      detail: 'GET /sse · resumes with Last-Event-ID',
      start(s) {
        session = s;
        types = new Set(s.types);
        epoch = s.epoch;
        start = last = s.after;
        retry = RETRY_MIN_MS;
        s.status('connecting');
        open(s.after);
      },
      stop() { session = null; close(); },
      learnType(type, offset) {
        if (types.has(type) || type === 'message' || type === 'reset') return;
        types.add(type);
        if (!es) return;
        es.addEventListener(type, onEvent);
        if (offset && offset > start) {
          // An event of this type was committed after our start, and this
          // stream had no listener for it: read again from before it.
          open(Math.min(last, offset - 1));
        }
      },
    };
  }

  /**
   * HTTP long-polling: GET /poll?room=…&after=next, again and again. The
   * first poll does not wait (timeout=0), so the panel knows at once that
   * the server answers; the following ones are held up to POLL_HOLD.
   */
  function longPollTransport() {
    let session = null;
    let ctrl = null;

    async function loop(s, signal) {
      let after = s.after;
      let epoch = s.epoch;
      let first = true;
      let retry = RETRY_MIN_MS;
      while (s === session) {
        try {
          const body = await api('/poll?' + query({ room: s.room, after, epoch, timeout: first ? '0s' : POLL_HOLD, token }), { signal }, { bearer: false });
          if (s !== session) return;
          if (body.reset) s.reset(body.reset);
          if (body.events.length > 0) s.events(body.events);
          after = body.next;
          epoch = body.epoch || epoch;
          first = false;
          retry = RETRY_MIN_MS;
          s.status('live');
        } catch (err) {
          if (s !== session || err.name === 'AbortError') return;
          if (authError(err)) s.note('error', String(err));
          s.status('reconnecting', `${err} · retrying in ${Math.round(retry / 1000)}s`);
          await sleep(retry, signal);
          retry = backoff(retry);
        }
      }
    }

    return {
      id: 'longpoll',
      title: 'Long-polling',
      detail: `GET /poll · held up to ${POLL_HOLD}`,
      start(s) {
        session = s;
        ctrl = new AbortController();
        s.status('connecting');
        loop(s, ctrl.signal);
      },
      stop() {
        session = null;
        ctrl?.abort();
        ctrl = null;
      },
    };
  }

  /**
   * Socket.IO through the socket.io-client bundle the server serves at
   * /socket.io/socket.io.js. The page keeps one socket for its lifetime
   * (polling first, then the upgrade to WebSocket; the header line shows
   * the transport in use) and moves it between rooms with room:leave and
   * room:join. A join passes `after` = the last offset this panel has, so
   * the room starts exactly where the history read (or the previous
   * connection) ended.
   *
   * Reconnects: socket.io-client sends back the session id and the offset
   * token of the last event it received. When the server recovers the
   * session (socket.recovered), it is still in the room and replays what
   * was missed; otherwise it is a new session and the panel re-joins after
   * its last offset. Either way the panel notes which.
   *
   * Every event arrives through onAny as (type, data, meta, token): meta is
   * {room, offset, id, time, from} ({…, ephemeral: true} without offset for
   * ephemeral events); the token is socket.io-client's business. A `reset`
   * event {reason, requested, resume} (no meta) says the log could not
   * continue where it was asked to.
   */
  function socketIOTransport() {
    const DETAIL = 'io() · /socket.io/';
    let socket = null;
    let session = null;
    let joined = null; // the session whose room the server has this socket in
    let joinGen = 0; // the current room:join; older acks are ignored
    let last = 0; // highest offset of session's room received (or started after)
    let connectedBefore = false;
    let replay = null; // {s, from, count, timer}: a recovered session's missed events
    let connectRetry = RETRY_MIN_MS;
    let connectTimer = 0;
    let joinRetry = RETRY_MIN_MS;
    let joinTimer = 0;

    const engineName = () => socket?.io.engine?.transport?.name ?? '';

    function showTransport() {
      session?.detail(DETAIL, socket?.connected ? engineName() : 'offline');
    }

    function ensureSocket() {
      if (socket) return true;
      if (typeof io !== 'function') return false; // the bundle did not load
      // auth is read at every (re)connect, so a new token is used as soon
      // as the socket reconnects; socket.io-client adds its session id and
      // offset to it for connection state recovery.
      socket = io({ autoConnect: false, auth: (cb) => cb(token ? { token } : {}) });
      socket.io.on('open', () => {
        socket.io.engine.on('upgrade', showTransport);
        showTransport();
      });
      socket.io.on('reconnect_attempt', (n) => session?.status('reconnecting', `reconnect attempt ${n}`));
      socket.on('connect', onConnect);
      socket.on('disconnect', onDisconnect);
      socket.on('connect_error', onConnectError);
      socket.onAny(onAny);
      socket.connect();
      return true;
    }

    function onConnect() {
      connectRetry = RETRY_MIN_MS;
      clearTimeout(connectTimer);
      showTransport();
      const again = connectedBefore;
      connectedBefore = true;
      const s = session;
      if (!s) return;
      if (socket.recovered && joined === s) {
        // The server kept the room and sends what was missed after this.
        s.status('live');
        startReplay(s);
        return;
      }
      if (again && joined === s) s.note('info', `new session — re-joined from offset ${last}`);
      join(s);
    }

    function onDisconnect(reason) {
      endReplay();
      showTransport();
      if (reason === 'io client disconnect') return;
      session?.status('reconnecting', reason);
      // After a server-side disconnect socket.io-client does not come back
      // on its own.
      if (reason === 'io server disconnect') reconnectLater();
    }

    function onConnectError(err) {
      showTransport();
      // {message: "unauthorized" | "forbidden", data: {code, message}}
      if (authError({ code: err.message })) session?.note('error', errorText(err.data ?? { message: err.message }));
      session?.status('reconnecting', err.message);
      if (!socket.active) reconnectLater(); // refused by the server: retry ourselves
    }

    function reconnectLater() {
      clearTimeout(connectTimer);
      connectTimer = setTimeout(() => { if (!socket.connected) socket.connect(); }, connectRetry);
      connectRetry = backoff(connectRetry);
    }

    function join(s) {
      const gen = ++joinGen;
      clearTimeout(joinTimer);
      joined = null;
      const after = last;
      s.status('connecting', `joining after offset ${after}`);
      socket.timeout(RETRY_MAX_MS).emit('room:join', { room: s.room, after }, (err, ack) => {
        if (gen !== joinGen || s !== session) return;
        if (err || !ack || !ack.ok) {
          const why = err ? 'room:join was not answered' : errorText(ack?.error);
          if (authError(ack?.error)) s.note('error', why);
          s.status('reconnecting', `${why} · retrying in ${Math.round(joinRetry / 1000)}s`);
          joinTimer = setTimeout(() => { if (gen === joinGen && s === session && socket.connected) join(s); }, joinRetry);
          joinRetry = backoff(joinRetry);
          return;
        }
        joinRetry = RETRY_MIN_MS;
        joined = s;
        if (ack.recovered === false) {
          // The server could not start after `after`: retention removed
          // events, or the offset is beyond its log's head.
          const resume = after > ack.head ? ack.head : undefined;
          if (resume !== undefined) last = resume;
          s.reset({ reason: after > ack.head ? 'beyond_head' : 'trimmed', requested: after, resume });
        }
        s.status('live');
      });
    }

    function onAny(type, data, meta) {
      const s = session;
      if (!s) return;
      if (type === 'reset' && (meta === undefined || typeof meta === 'string')) {
        if (data && typeof data === 'object') {
          if (typeof data.resume === 'number') last = data.resume;
          s.reset(data);
        }
        return;
      }
      if (!meta || typeof meta !== 'object' || meta.room !== s.room) return; // another room (just left)
      const ev = { offset: meta.offset, id: meta.id, room: meta.room, type, data, time: meta.time, from: meta.from };
      if (ev.offset) {
        if (replay && replay.s === s && ev.offset > replay.from) replay.count++;
        last = Math.max(last, ev.offset);
      }
      if (replay) armReplay();
      s.events([ev]);
    }

    // A recovered session's missed events follow CONNECT at once; they
    // are counted until the stream has been quiet for a moment.
    function startReplay(s) {
      endReplay();
      replay = { s, from: last, count: 0, timer: 0 };
      armReplay();
    }

    function armReplay() {
      const r = replay;
      clearTimeout(r.timer);
      r.s.note('ok', `recovered — ${r.count} missed event${r.count === 1 ? '' : 's'} replayed`);
      r.timer = setTimeout(() => { if (replay === r) replay = null; }, 400);
    }

    function endReplay() {
      if (replay) clearTimeout(replay.timer);
      replay = null;
    }

    return {
      id: 'socketio',
      title: 'Socket.IO',
      detail: DETAIL,
      start(s) {
        session = s;
        last = s.after;
        joined = null;
        joinRetry = RETRY_MIN_MS;
        s.status('connecting');
        if (!ensureSocket()) {
          s.status('reconnecting', '/socket.io/socket.io.js did not load');
          return;
        }
        showTransport();
        if (socket.connected) join(s); // else onConnect joins
      },
      /** reauth reconnects the socket, so that it presents the current token. */
      reauth() {
        if (!socket) return;
        connectedBefore = false;
        socket.disconnect();
        socket.connect();
      },
      stop() {
        const s = session;
        session = null;
        joined = null;
        joinGen++;
        clearTimeout(joinTimer);
        endReplay();
        // Sent now, or first thing after the next connect (socket.io-client
        // buffers it), so a recovered session does not keep the old room.
        if (s && socket) socket.emit('room:leave', { room: s.room });
      },
      /** publish emits type {room, text[, ephemeral]} and resolves to the ack. */
      async publish(room, type, text, ephemeral) {
        if (!socket?.connected) throw new ApiError(0, 'unavailable', 'Socket.IO is not connected');
        if (type === 'room:join' || type === 'room:leave') {
          throw new ApiError(0, 'invalid_argument', `${type} is a Socket.IO control event; publish it over HTTP`);
        }
        const payload = ephemeral ? { room, text, ephemeral: true } : { room, text };
        let ack;
        try {
          ack = await socket.timeout(RETRY_MAX_MS).emitWithAck(type, payload);
        } catch (err) {
          if (/reserved event name/.test(err.message)) throw new ApiError(0, 'invalid_argument', err.message);
          throw new ApiError(0, 'timeout', 'the server did not acknowledge the event');
        }
        if (!ack || !ack.ok) {
          throw new ApiError(0, ack?.error?.code ?? 'error', ack?.error?.message ?? 'the server refused the event');
        }
        return ack;
      },
    };
  }


  /** The transports shown, left to right. */
  const TRANSPORTS = [sseTransport, longPollTransport, socketIOTransport];

  // ---- panels --------------------------------------------------------------

  const STATUS_TEXT = { idle: 'idle', connecting: 'connecting', live: 'live', reconnecting: 'reconnecting' };

  /** Panel shows one transport's view of the room. */
  class Panel {
    constructor(transport) {
      this.transport = transport;
      const root = $('#panel-template').content.firstElementChild.cloneNode(true);
      root.dataset.transport = transport.id;
      root.setAttribute('aria-label', transport.title);
      $('h2', root).textContent = transport.title;
      $('.panel-detail', root).textContent = transport.detail;
      this.root = root;
      this.list = $('.events', root);
      this.wrap = $('.events-wrap', root);
      this.empty = $('.events-empty', root);
      this.noticeEl = $('.notice', root);
      this.statusEl = $('.status', root);
      this.noteEl = $('.panel-note', root);
      this.rows = new Map(); // offset → row, for committed events in the DOM
      this.reset('');
    }

    /** reset empties the panel for room. */
    reset(room) {
      this.rows.clear();
      this.list.replaceChildren();
      this.count = 0;
      this.last = 0;
      this.noticeEl.hidden = true;
      this.noteEl.hidden = true;
      this.noteEl.replaceChildren();
      $('.stat-room', this.root).textContent = room || '–';
      this.setStatus('idle');
      this.updateStats();
    }

    setStatus(state, text) {
      this.root.dataset.status = state;
      this.statusEl.dataset.state = state;
      $('.status-text', this.statusEl).textContent = STATUS_TEXT[state] ?? state;
      this.statusEl.title = text || '';
    }

    /**
     * resetTo shows a reset: a notice, and a divider row below which the
     * stream starts over after offset resume (after a recreated log, the
     * offsets above the divider belong to the old log).
     */
    resetTo(text, resume) {
      this.notice(text);
      const stick = this.atBottom();
      this.list.append(el('li', { class: 'event-divider', 'data-barrier': '' },
        el('span', {}, resume ? `reset · continuing after offset ${resume}`
          : resume === 0 ? 'reset · continuing from the earliest retained event' : 'reset · continuing where the server resumed')));
      this.rows.clear();
      if (resume !== undefined) this.last = resume;
      this.trim();
      this.updateStats();
      if (stick) this.wrap.scrollTop = this.wrap.scrollHeight;
    }

    /** setDetail shows the header line, with an optional badge after it. */
    setDetail(text, badge) {
      const d = $('.panel-detail', this.root);
      d.replaceChildren(text, badge ? el('span', { class: 'badge mono' }, badge) : null);
      if (badge) this.root.dataset.wire = badge;
      else delete this.root.dataset.wire;
    }

    clearNote() {
      this.noteEl.hidden = true;
      this.noteEl.replaceChildren();
    }

    /** note shows a one-line remark on the connection, with its time. */
    note(kind, text) {
      this.noteEl.dataset.kind = kind;
      this.noteEl.replaceChildren(
        el('time', { class: 'mono' }, clock(new Date().toISOString()).slice(0, 8)),
        el('span', { class: 'note-text' }, text),
      );
      this.noteEl.hidden = false;
    }

    atBottom() {
      return this.wrap.scrollHeight - this.wrap.scrollTop - this.wrap.clientHeight < 48;
    }

    notice(text) {
      this.noticeEl.replaceChildren(
        el('strong', {}, 'Reset. '), text,
        el('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss' }, '×'),
      );
      $('.notice-close', this.noticeEl).addEventListener('click', () => { this.noticeEl.hidden = true; });
      this.noticeEl.hidden = false;
    }

    updateStats() {
      $('.stat-offset', this.root).textContent = this.last ? String(this.last) : '–';
      $('.stat-count', this.root).textContent = String(this.count);
      this.root.dataset.lastOffset = String(this.last);
      this.empty.hidden = this.list.childElementCount > 0;
    }

    /**
     * add shows events in offset order (ephemeral ones where they arrive).
     * Offsets already shown are skipped. history marks rows read through
     * the REST API rather than received by this transport.
     */
    add(events, { history = false } = {}) {
      const stick = this.atBottom();
      let appended = false;
      for (const ev of events) {
        if (ev.offset && this.rows.has(ev.offset)) continue;
        const row = this.row(ev, history);
        if (!history) this.count++;
        if (ev.offset) {
          this.rows.set(ev.offset, row);
          this.last = Math.max(this.last, ev.offset);
          this.insert(row, ev.offset);
        } else {
          this.list.append(row);
        }
        appended = appended || row === this.list.lastElementChild;
      }
      this.trim();
      this.updateStats();
      if (appended && stick) this.wrap.scrollTop = this.wrap.scrollHeight;
    }

    /**
     * insert puts row before the first row with a higher offset, below the
     * last reset divider.
     */
    insert(row, offset) {
      let before = null;
      for (let n = this.list.lastElementChild; n; n = n.previousElementSibling) {
        if (n.dataset.barrier !== undefined) break;
        const o = Number(n.dataset.offset || 0);
        if (o && o < offset) break;
        if (o > offset) before = n;
      }
      this.list.insertBefore(row, before);
    }

    trim() {
      while (this.list.childElementCount > MAX_ROWS) {
        const first = this.list.firstElementChild;
        if (first.dataset.offset) this.rows.delete(Number(first.dataset.offset));
        first.remove();
      }
    }

    row(ev, history) {
      const { text, raw } = dataText(ev.data);
      const eph = !ev.offset;
      return el('li', {
        class: 'event' + (history ? ' event-history' : '') + (eph ? ' event-ephemeral' : ''),
        'data-offset': eph ? undefined : ev.offset,
        'data-type': ev.type,
      },
      el('div', { class: 'event-meta' },
        el('span', { class: 'ev-offset mono', title: eph ? 'ephemeral: not logged, no offset' : `offset ${ev.offset}` }, eph ? 'eph' : `#${ev.offset}`),
        el('span', { class: 'ev-type mono' }, ev.type),
        el('span', { class: 'ev-from' }, ev.from || ''),
        history ? el('span', { class: 'ev-tag' }, 'history') : null,
        el('time', { class: 'ev-time mono', datetime: ev.time, title: ev.time }, clock(ev.time)),
      ),
      el('div', { class: 'ev-data' + (raw ? ' mono' : '') }, text));
    }
  }

  // ---- the page ------------------------------------------------------------

  const transports = TRANSPORTS.map((make) => make());
  const panels = transports.map((t) => new Panel(t));
  $('#panels').append(...panels.map((p) => p.root));
  $('#panels').style.setProperty('--panels', String(panels.length));

  const roomInput = $('#room-input');
  const olderBtn = $('#older-btn');
  const publishStatus = $('#publish-status');

  let current = null; // {room, epoch, older}: the connected room
  let connectCtrl = null;

  /** learnType tells every transport that can use it about an event type. */
  function learnType(type, offset) {
    for (const t of transports) t.learnType?.(type, offset);
  }

  function stopAll() {
    for (const t of transports) t.stop();
  }

  /** connect shows room in every panel: recent history, then live events. */
  async function connect(room) {
    connectCtrl?.abort();
    const ctrl = new AbortController();
    connectCtrl = ctrl;
    stopAll();
    current = { room, epoch: '', older: 0 };
    roomInput.value = room;
    const url = new URL(location.href);
    url.searchParams.set('room', room);
    history.replaceState(null, '', url);
    document.title = `${room} · rtbroker`;
    olderBtn.disabled = true;
    olderBtn.textContent = 'Load older';
    for (const p of panels) {
      p.reset(room);
      p.setStatus('connecting');
    }
    highlightRoom();

    // The newest page first; every transport continues after it.
    let page;
    for (let retry = RETRY_MIN_MS; ; retry = backoff(retry)) {
      try {
        page = await api(`${roomURL(room)}?${query({ before: 0, limit: HISTORY_PAGE })}`, { signal: ctrl.signal });
        break;
      } catch (err) {
        if (ctrl.signal.aborted) return;
        for (const p of panels) {
          p.setStatus('reconnecting', String(err));
          if (authError(err)) p.note('error', `${err} — ${err.code === 'unauthorized' ? 'enter a valid token above' : 'the token does not allow this room'}`);
        }
        await sleep(retry, ctrl.signal);
        if (ctrl.signal.aborted) return;
      }
    }
    current.epoch = page.epoch;
    current.older = page.prev;
    olderBtn.disabled = !page.prev;
    const types = new Set(['chat:message', $('#type-input').value.trim()]);
    let after = page.head;
    for (const ev of page.events) {
      types.add(ev.type);
      after = Math.max(after, ev.offset);
    }
    types.delete('');
    for (const p of panels) {
      p.clearNote();
      p.add(page.events, { history: true });
    }

    transports.forEach((t, i) => {
      const p = panels[i];
      const s = {
        room, after, epoch: page.epoch, types: [...types],
        status: (state, text) => { if (connectCtrl === ctrl) p.setStatus(state, text); },
        detail: (text, badge) => { if (connectCtrl === ctrl) p.setDetail(text, badge); },
        note: (kind, text) => { if (connectCtrl === ctrl) p.note(kind, text); },
        events: (list) => {
          if (connectCtrl !== ctrl) return;
          p.add(list);
          for (const ev of list) learnType(ev.type, ev.offset);
        },
        reset: (r) => {
          if (connectCtrl !== ctrl) return;
          const why = {
            epoch_mismatch: 'the log was recreated',
            trimmed: 'events were removed by retention',
            beyond_head: 'it is beyond the log head',
          }[r.reason] ?? `server said ${r.reason}`;
          const from = r.resume ? `after offset ${r.resume}` : r.resume === 0 ? 'from the earliest retained event' : 'where the server resumed';
          p.resetTo(`Offset ${r.requested} could not be resumed (${why}); continuing ${from}.`, r.resume);
          if (r.reason === 'epoch_mismatch') {
            // Older pages of the old log mean nothing now.
            current.older = 0;
            olderBtn.disabled = true;
          }
        },
      };
      t.start(s);
    });
  }

  async function loadOlder() {
    if (!current || !current.older) return;
    const { room } = current;
    olderBtn.disabled = true;
    try {
      const page = await api(`${roomURL(room)}?${query({ before: current.older, limit: HISTORY_PAGE })}`);
      if (current?.room !== room) return;
      for (const p of panels) p.add(page.events, { history: true });
      for (const ev of page.events) learnType(ev.type, ev.offset);
      current.older = page.prev;
    } catch (err) {
      showPublish(`Load older failed: ${err}`, 'error');
    }
    olderBtn.disabled = !current.older;
    olderBtn.textContent = current.older ? 'Load older' : 'Start of history';
  }

  function showPublish(text, state) {
    publishStatus.textContent = text;
    publishStatus.title = text;
    publishStatus.dataset.state = state;
    publishStatus.setAttribute('role', state === 'error' ? 'alert' : 'status');
  }

  /** publishHTTP publishes with POST /api/rooms/{room}/events. */
  function publishHTTP(room, type, text, ephemeral) {
    const body = { type, data: { text } };
    if (ephemeral) body.ephemeral = true;
    return api(roomURL(room), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  const VIA = {
    http: { name: 'HTTP', publish: publishHTTP },
    socketio: {
      name: 'Socket.IO',
      publish: (...args) => transports.find((t) => t.id === 'socketio').publish(...args),
    },
  };

  async function publish(e) {
    e.preventDefault();
    if (!current) return;
    const type = $('#type-input').value.trim();
    const textInput = $('#text-input');
    const ephemeral = $('#ephemeral-input').checked;
    const via = VIA[$('#publish-form').elements.via.value] ?? VIA.http;
    // Listen for the type before the event can exist.
    learnType(type);
    const btn = $('#send-btn');
    btn.disabled = true;
    delete publishStatus.dataset.offset;
    try {
      const ev = await via.publish(current.room, type, textInput.value, ephemeral);
      if (ev.offset) publishStatus.dataset.offset = String(ev.offset);
      showPublish(ev.offset ? `Published #${ev.offset} via ${via.name}` : `Sent via ${via.name} (ephemeral, not logged)`, 'ok');
      textInput.value = '';
      refreshRooms();
    } catch (err) {
      showPublish(`${err} (via ${via.name})`, 'error');
    } finally {
      btn.disabled = false;
      textInput.focus();
    }
  }

  // ---- rooms ---------------------------------------------------------------

  let roomsTimer = 0;
  let roomsGen = 0; // the latest refresh; only it schedules the next one

  function highlightRoom() {
    for (const tr of $('#rooms-body').children) {
      if (tr.dataset.room === current?.room) tr.setAttribute('aria-current', 'true');
      else tr.removeAttribute('aria-current');
    }
  }

  async function refreshRooms() {
    clearTimeout(roomsTimer);
    const gen = ++roomsGen;
    const errEl = $('#rooms-error');
    try {
      const body = await api('/api/rooms');
      if (gen !== roomsGen) return;
      const rows = body.rooms.map((r) => el('tr', { 'data-room': r.room },
        el('td', {}, el('button', { type: 'button', class: 'room-link mono', title: `Switch to ${r.room}` }, r.room)),
        el('td', { class: 'num mono' }, String(r.head)),
        el('td', { class: 'num mono' }, String(r.count)),
      ));
      $('#rooms-body').replaceChildren(...rows);
      $('#rooms-empty').hidden = rows.length > 0;
      $('#server-head').textContent = String(body.head);
      $('#server-epoch').textContent = body.epoch;
      $('#server-epoch').title = body.epoch;
      $('#rooms-updated').textContent = `updated ${clock(new Date().toISOString()).slice(0, 8)}`;
      errEl.hidden = true;
      highlightRoom();
    } catch (err) {
      if (gen !== roomsGen) return;
      errEl.textContent = `Could not list rooms: ${err}`;
      errEl.hidden = false;
    }
    roomsTimer = setTimeout(refreshRooms, ROOMS_REFRESH_MS);
  }

  $('#rooms-body').addEventListener('click', (e) => {
    const tr = e.target.closest('tr[data-room]');
    if (tr && e.target.closest('button')) connect(tr.dataset.room);
  });

  const tokenInput = $('#token-input');
  tokenInput.value = token;
  showIdentity();

  $('#room-form').addEventListener('submit', (e) => {
    e.preventDefault();
    if (!roomInput.reportValidity()) return;
    const t = tokenInput.value.trim();
    if (t !== token) {
      setToken(t);
      for (const tr of transports) tr.reauth?.();
      refreshRooms();
    }
    connect(roomInput.value.trim());
  });
  olderBtn.addEventListener('click', loadOlder);
  $('#publish-form').addEventListener('submit', publish);

  const initial = new URLSearchParams(location.search).get('room');
  connect(initial && /^[A-Za-z0-9_.:@-]{1,128}$/.test(initial) ? initial : roomInput.value);
  refreshRooms();
})();
