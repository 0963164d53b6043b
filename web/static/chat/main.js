// The chat page: rooms, history, presence, typing, receipts, edits and
// direct messages over one Socket.IO connection, from the log.
//
// Shape:
//   - start() asks the server whether it needs a token (auth.js), then
//     shows the sign-in card or, with a token kept for the tab, goes
//     straight in. enter() opens the socket (auth.token in the CONNECT
//     payload, read again at every reconnect).
//   - rooms is every room the page knows: the ones me:rooms lists (with
//     head, read position and unread count, asked again every
//     ROOMS_REFRESH_MS) and the ones joined. One is open (active); the
//     page may be joined to several, and counts unread events in the ones
//     not open.
//   - Every event arrives through socket.onAny: logged ones (meta.offset)
//     are messages or changes (message:edit / message:delete naming a
//     message by id and offset); ephemeral ones are typing, presence and
//     receipts.
//   - A join asks for the last HISTORY events (room:join {history}); "Load
//     older" pages back over HTTP (GET /api/rooms/{room}/events?before=).
//     Changes found in older pages are kept so a message read later shows
//     its latest data.
//   - After a drop, socket.io-client reconnects on its own: a recovered
//     session (socket.recovered) has been sent exactly what it missed; a
//     new one re-joins each room after its last offset. Either way nothing
//     is missed or shown twice.

import { api, checkToken, dmRoom, serverMode, storedToken, storeToken } from './auth.js';
import { MessageList } from './messages.js';
import { renderPeople, renderRooms, typingText } from './people.js';
import { CHANGE_TYPES, Room } from './room.js';

const HISTORY = 50; // events asked for on join, and per "Load older"
const MAX_SHOWN = 1000; // messages kept per room while the reader is at the newest
const ACK_MS = 10000;
const ROOMS_REFRESH_MS = 10000;
const PRESENCE_REFRESH_MS = 15000; // also covers servers without --presence-events
const TYPING_RESEND_MS = 2500; // the server stops a typist silent for 5 s
const TYPING_IDLE_MS = 4000; // no key for this long: typing:stop
const TYPING_EXPIRE_MS = 7000; // a typist heard nothing from for this long is dropped
const READ_DELAY_MS = 300;
const ANON_KEY = 'rtbroker.chat.anonymous';

const $ = (sel) => document.querySelector(sel);

const state = {
  token: '',
  me: '', // the token's subject; '' when anonymous
  anonymous: false,
  socket: null,
  everConnected: false,
  rooms: new Map(),
  active: '',
};

// ---- elements ----------------------------------------------------------------

const ui = {
  signin: $('#signin'), modeText: $('#mode-text'), tokenForm: $('#token-form'), tokenInput: $('#token-input'),
  anonBlock: $('#anon-block'), anonBtn: $('#anon-btn'), signinError: $('#signin-error'),
  chat: $('#chat'), meName: $('#me-name'), anonNote: $('#anon-note'), signout: $('#signout-btn'),
  roomList: $('#room-list'), roomsEmpty: $('#rooms-empty'), joinForm: $('#join-form'), joinInput: $('#join-input'),
  dmForm: $('#dm-form'), dmInput: $('#dm-input'), sideError: $('#side-error'),
  conn: $('#conn'), connText: $('#conn-text'), connNote: $('#conn-note'), wire: $('#wire'), drop: $('#drop-btn'),
  roomTitle: $('#room-title'), roomSub: $('#room-sub'), joinBtn: $('#join-btn'), leaveBtn: $('#leave-btn'),
  olderBtn: $('#older-btn'), olderNote: $('#older-note'), typing: $('#typing'),
  sendForm: $('#send-form'), sendInput: $('#send-input'), sendBtn: $('#send-btn'), sendError: $('#send-error'),
  peopleList: $('#people-list'), peopleCount: $('#people-count'), peopleNote: $('#people-note'),
};

const list = new MessageList($('#messages'), $('#log-wrap'), $('#messages-empty'), $('#newer-btn'), {
  canChange: (m) => !state.anonymous && m.from === state.me && m.type === 'chat:message',
  lookup: (offset) => state.rooms.get(state.active)?.msgs.get(offset),
  edit: (m, text) => ack('message:edit', { room: state.active, id: m.id, offset: m.offset, data: { ...m.data, text } }),
  remove: (m) => ack('message:delete', { room: state.active, id: m.id, offset: m.offset }),
});

// ---- small helpers -------------------------------------------------------------

/** ack emits an event and resolves to its ack, or throws the refusal. */
async function ack(event, args) {
  const s = state.socket;
  if (!s?.connected) throw new Error('not connected');
  const a = await s.timeout(ACK_MS).emitWithAck(event, args);
  if (a && a.ok === false) throw new Error(a.error?.message ?? a.error?.code ?? 'refused');
  return a;
}

function room(name) {
  let r = state.rooms.get(name);
  if (!r) {
    r = new Room(name);
    state.rooms.set(name, r);
  }
  return r;
}

function setConn(st, text) {
  ui.conn.dataset.state = st;
  ui.connText.textContent = text;
}

function connNote(kind, text) {
  ui.connNote.dataset.kind = kind;
  ui.connNote.textContent = `${new Date().toLocaleTimeString()} · ${text}`;
}

// ---- sign in -------------------------------------------------------------------

async function start() {
  ui.tokenForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const token = ui.tokenInput.value.trim();
    ui.signinError.textContent = '';
    try {
      const c = await checkToken(token);
      storeToken(token);
      enter(token, c.sub);
    } catch (err) {
      ui.signinError.textContent = `Token refused: ${err.message}`;
      ui.tokenInput.focus();
    }
  });
  ui.tokenInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.isComposing) { e.preventDefault(); ui.tokenForm.requestSubmit(); }
  });
  ui.anonBtn.addEventListener('click', () => {
    try { sessionStorage.setItem(ANON_KEY, '1'); } catch { /* storage disabled */ }
    enter('', '');
  });
  ui.signout.addEventListener('click', signOut);

  let mode;
  try {
    mode = await serverMode();
  } catch (err) {
    showSignin(`The server could not be reached (${err.message}). Reload to try again.`, false);
    return;
  }
  const token = storedToken();
  if (token) {
    try {
      const c = await checkToken(token);
      enter(token, c.sub);
      return;
    } catch (err) {
      storeToken('');
      ui.signinError.textContent = `The saved token was refused: ${err.message}`;
    }
  }
  let anon = false;
  try { anon = sessionStorage.getItem(ANON_KEY) === '1'; } catch { /* storage disabled */ }
  if (mode.anonymous && anon) {
    enter('', '');
    return;
  }
  showSignin(mode.anonymous
    ? 'Paste a token to chat as its user, or continue without one.'
    : 'This server requires a token: paste one (a JSON Web Token its --jwt-secret or key accepts).', mode.anonymous);
}

function showSignin(text, anonymous) {
  ui.modeText.textContent = text;
  ui.anonBlock.hidden = !anonymous;
  ui.signin.dataset.anonymous = anonymous ? '1' : '0';
  ui.signin.hidden = false;
  ui.chat.hidden = true;
  document.body.dataset.ready = '1';
  ui.tokenInput.focus();
}

function signOut() {
  storeToken('');
  try { sessionStorage.removeItem(ANON_KEY); } catch { /* storage disabled */ }
  state.socket?.disconnect();
  location.href = location.pathname;
}

/**
 * enter opens the chat as token's subject (anonymous without one). It
 * runs once per page: after a refused connection, the page is loaded
 * again with the new choice.
 */
function enter(token, sub) {
  if (state.socket) {
    location.reload();
    return;
  }
  state.token = token;
  state.me = sub;
  state.anonymous = !token;
  ui.signin.hidden = true;
  ui.chat.hidden = false;
  ui.meName.textContent = token ? sub : 'anonymous';
  ui.anonNote.hidden = !state.anonymous;
  ui.dmInput.disabled = state.anonymous;
  ui.dmForm.querySelector('button').disabled = state.anonymous;
  document.body.dataset.mode = state.anonymous ? 'anonymous' : 'token';
  wire();
  connect();
}

// ---- the connection ----------------------------------------------------------

function connect() {
  setConn('connecting', 'connecting…');
  const s = globalThis.io({
    reconnectionDelay: 500,
    reconnectionDelayMax: 4000,
    auth: (cb) => cb(state.token ? { token: state.token } : {}),
  });
  state.socket = s;
  s.on('connect', () => connected());
  s.on('disconnect', (reason) => {
    if (reason === 'io client disconnect') return;
    setConn('reconnecting', 'reconnecting…');
    connNote('error', `connection lost (${reason}); reconnecting`);
    // The server closed the session (an expired token, a shutdown):
    // socket.io-client does not retry that on its own. A refusal of the
    // next CONNECT brings the sign-in card back.
    if (reason === 'io server disconnect') setTimeout(() => s.connect(), 1000);
    for (const r of state.rooms.values()) clearTypists(r);
    renderTyping();
  });
  s.on('connect_error', (err) => {
    const msg = err.data?.message ?? err.message ?? String(err);
    if (!s.active) {
      // Refused by the server (an expired or revoked token): no retry.
      setConn('refused', 'refused');
      storeToken('');
      showSignin(`The server refused the connection: ${msg}`, ui.signin.dataset.anonymous === '1');
      return;
    }
    setConn('reconnecting', 'reconnecting…');
    connNote('error', `cannot connect: ${msg}`);
  });
  s.io.on('reconnect_attempt', (n) => setConn('reconnecting', `reconnecting (attempt ${n})…`));
  s.onAny(onEvent);
  setInterval(refreshRooms, ROOMS_REFRESH_MS);
  setInterval(() => { const r = state.rooms.get(state.active); if (r?.joined) refreshPresence(r); }, PRESENCE_REFRESH_MS);
}

async function connected() {
  const s = state.socket;
  const engine = s.io.engine;
  ui.wire.textContent = engine.transport.name;
  engine.once('upgrade', (t) => { ui.wire.textContent = t.name; });
  const first = !state.everConnected;
  state.everConnected = true;
  if (first) {
    setConn('live', 'connected');
    connNote('ok', 'connected');
    await refreshRooms();
    const want = new URLSearchParams(location.search).get('room') || pickRoom();
    if (want) await openRoom(want);
    else renderAll();
    document.body.dataset.ready = '1';
    return;
  }
  if (s.recovered) {
    setConn('live', 'recovered');
    connNote('ok', 'recovered: every event missed meanwhile came back from the log');
  } else {
    setConn('live', 'reconnected');
    const joined = [...state.rooms.values()].filter((r) => r.joined);
    await Promise.all(joined.map((r) => join(r)));
    connNote('info', `reconnected with a new session: re-joined ${joined.length} ${joined.length === 1 ? 'room' : 'rooms'} after the last event seen`);
  }
  const r = state.rooms.get(state.active);
  if (r?.joined) refreshPresence(r);
  refreshRooms();
}

/** pickRoom is the room to open first: general, else the first listed. */
function pickRoom() {
  if (state.rooms.has('general')) return 'general';
  return [...state.rooms.keys()].sort()[0] ?? '';
}

/** drop closes the transport under the client, with no goodbye to the server. */
function drop() {
  const t = state.socket?.io.engine?.transport;
  if (!t) return;
  connNote('info', 'connection dropped by the page');
  if (t.ws) {
    t.ws.close();
    return;
  }
  const req = t.pollXhr;
  const xhr = req && Object.values(req).find((v) => v instanceof XMLHttpRequest);
  req?.abort();
  xhr?.abort();
  t.onClose({ description: 'dropped by the page' });
}

// ---- rooms ---------------------------------------------------------------------

async function refreshRooms() {
  if (!state.socket?.connected) return;
  let a;
  try {
    a = await ack('me:rooms', {});
  } catch (err) {
    ui.sideError.textContent = `Rooms: ${err.message}`;
    return;
  }
  for (const item of a.rooms ?? []) {
    const r = room(item.room);
    r.head = Math.max(r.head, item.head);
    if (state.anonymous) continue; // no read positions: count locally
    r.read = Math.max(r.read, item.read);
    if (r.name !== state.active || !r.joined) r.unread = item.unread; // the open one is marked read as it goes
  }
  renderRoomList();
}

function renderRoomList() {
  const rooms = [...state.rooms.values()].sort((a, b) => a.name.localeCompare(b.name));
  renderRooms(ui.roomList, rooms, state.active, state.me, (name) => openRoom(name));
  ui.roomsEmpty.hidden = rooms.length > 0;
  const unread = rooms.reduce((n, r) => n + r.unread, 0); // the open room's too while the tab is hidden
  document.title = `${unread ? `(${unread}) ` : ''}Chat · rtbroker`;
}

/** openRoom shows a room, joining it when the page is not in it yet. */
async function openRoom(name) {
  ui.sideError.textContent = '';
  stopTyping();
  const r = room(name);
  state.active = name;
  const url = new URL(location.href);
  url.searchParams.set('room', name);
  history.replaceState(null, '', url);
  list.clear('Loading…');
  renderAll();
  list.add(r.sorted());
  list.scrollToBottom();
  if (!r.joined) await join(r);
  if (state.active !== name) return;
  if (r.joined) ui.sendInput.focus();
  list.empty.textContent = 'No messages yet. Say hello!';
  list.empty.hidden = r.msgs.size > 0;
  markRead(r);
  renderAll();
}

/**
 * join joins r: with the last HISTORY events the first time, after its
 * last offset when the page has seen some (a re-join after a new session).
 */
async function join(r) {
  const args = r.last > 0 ? { room: r.name, after: r.last, epoch: r.epoch } : { room: r.name, history: HISTORY };
  r.joined = true; // events may arrive before the ack is read
  try {
    const a = await ack('room:join', args);
    r.epoch = a.epoch ?? r.epoch;
    if (r.start === null) {
      r.start = a.start ?? 0;
      if (r.start === 0) r.noOlder = true; // the history began at the room's first event
    }
    if (a.reset) connNote('error', `${r.name}: events after ${a.reset.requested} were removed (${a.reset.reason}); resumed at ${a.reset.resume}`);
    refreshPresence(r);
  } catch (err) {
    r.joined = false;
    if (state.active === r.name) ui.sideError.textContent = `Cannot join ${r.name}: ${err.message}`;
  }
  renderAll();
}

async function leave(r) {
  try {
    await ack('room:leave', { room: r.name });
  } catch (err) {
    ui.sideError.textContent = `Cannot leave ${r.name}: ${err.message}`;
    return;
  }
  stopTyping();
  r.joined = false;
  r.presence = null;
  clearTypists(r);
  renderAll();
  ui.joinBtn.focus();
}

// ---- events --------------------------------------------------------------------

function onEvent(type, data, meta) {
  if (type === 'reset' && data) {
    connNote('error', `reset (${data.reason}): events after ${data.requested} were removed; resumed at ${data.resume}`);
    return;
  }
  if (type === 'error' && data) {
    ui.sendError.textContent = `${data.event ?? 'event'}: ${data.message ?? data.code}`;
    return;
  }
  if (!meta || typeof meta.room !== 'string') return;
  const r = state.rooms.get(meta.room);
  if (!r || !r.joined) return;
  if (typeof meta.offset === 'number' && !meta.ephemeral) {
    logged(r, type, data, meta);
    return;
  }
  switch (type) {
    case 'typing:start':
      if (meta.from && meta.from !== state.me) setTypist(r, meta.from);
      break;
    case 'typing:stop':
      if (meta.from) dropTypist(r, meta.from);
      break;
    case 'presence:join':
    case 'presence:leave':
      refreshPresence(r);
      break;
    case 'receipt':
      if (data && data.user === meta.from && Number.isFinite(data.offset)) receipt(r, data.user, data.offset);
      break;
    default:
  }
}

/** logged handles a logged event of a joined room, in offset order. */
function logged(r, type, data, meta) {
  if (meta.offset <= r.last) return; // already here (cannot happen: the log sends each once)
  r.last = meta.offset;
  r.saw(meta.offset);
  const open = r.name === state.active;
  if (CHANGE_TYPES.has(type)) {
    const c = r.change(type, data, meta.offset);
    if (open && c?.deleted) list.remove(c.deleted);
    if (open && c?.edited) list.update(c.edited);
  } else {
    const m = r.message({ ...meta, type, data });
    if (open && m) {
      list.add([m]);
      const trimmed = list.atBottom ? r.trim(MAX_SHOWN) : [];
      for (const o of trimmed) list.remove(o);
      if (ui.olderBtn.hidden) renderConv(); // the first message of a join's history, or a trim
    } else if (!open) r.trim(MAX_SHOWN);
    if (typeof meta.from === 'string') dropTypist(r, meta.from); // a sent message ends the typing
  }
  if (open && document.visibilityState === 'visible') markRead(r);
  else if (meta.offset > r.read) {
    r.unread++;
    renderRoomList();
  }
  if (open) renderSeen(r);
}

/** loadOlder reads the page of the room's history before the oldest event shown. */
async function loadOlder() {
  const r = state.rooms.get(state.active);
  if (!r) return;
  const before = r.first || (r.start ?? 0) + 1;
  ui.olderBtn.disabled = true;
  try {
    const page = await api(`/api/rooms/${encodeURIComponent(r.name)}/events?before=${before}&limit=${HISTORY}`, state.token);
    const shown = r.older(page.events ?? [], page.prev);
    if (state.active === r.name) {
      list.add(shown);
      renderSeen(r);
      ui.olderNote.textContent = r.noOlder ? 'This is the beginning of the room.' : `${shown.length} older ${shown.length === 1 ? 'message' : 'messages'} loaded.`;
      ui.olderNote.hidden = false;
    }
  } catch (err) {
    ui.olderNote.textContent = `Cannot load older messages: ${err.message}`;
    ui.olderNote.hidden = false;
  } finally {
    ui.olderBtn.disabled = false;
    renderConv();
  }
}

// ---- read receipts -------------------------------------------------------------

const readTimers = new Map(); // room → pending room:read

/**
 * markRead reports the open room read up to its newest event, at most
 * once per READ_DELAY_MS (anonymous users have no read position: their
 * count is the page's own).
 */
function markRead(r) {
  if (state.anonymous || !r.joined) {
    r.unread = 0;
    renderRoomList();
    return;
  }
  if (readTimers.has(r.name)) return;
  readTimers.set(r.name, setTimeout(async () => {
    readTimers.delete(r.name);
    const upTo = r.last;
    if (upTo <= r.read) {
      r.unread = 0;
      renderRoomList();
      return;
    }
    try {
      const a = await ack('room:read', { room: r.name, offset: upTo });
      r.read = Math.max(r.read, a.offset ?? upTo);
      if (r.last <= r.read) r.unread = 0;
      renderRoomList();
    } catch (err) {
      connNote('error', `room:read ${r.name}: ${err.message}`);
    }
  }, READ_DELAY_MS));
}

function receipt(r, user, offset) {
  if (user === state.me) {
    r.read = Math.max(r.read, offset);
    if (r.last <= r.read) r.unread = 0;
    renderRoomList();
    return;
  }
  r.receipts.set(user, Math.max(r.receipts.get(user) ?? 0, offset));
  if (r.name === state.active) renderSeen(r);
}

/** renderSeen shows "Seen by …" under the messages of the open room. */
function renderSeen(r) {
  list.seen(r.readers(state.me));
}

// ---- presence and typing ---------------------------------------------------------

const presenceTimers = new Map();

/** refreshPresence asks who is in r (at most once per 200 ms per room). */
function refreshPresence(r) {
  if (presenceTimers.has(r.name)) return;
  presenceTimers.set(r.name, setTimeout(async () => {
    presenceTimers.delete(r.name);
    if (!r.joined) return;
    try {
      r.presence = await ack('room:presence', { room: r.name });
    } catch (err) {
      r.presence = { error: err.message };
    }
    if (r.name === state.active) renderPresence();
  }, 200));
}

function renderPresence() {
  const r = state.rooms.get(state.active);
  renderPeople(ui.peopleList, ui.peopleCount, ui.peopleNote, r?.joined ? r.presence : null, state.me);
}

function setTypist(r, user) {
  clearTimeout(r.typists.get(user));
  r.typists.set(user, setTimeout(() => dropTypist(r, user), TYPING_EXPIRE_MS));
  if (r.name === state.active) renderTyping();
}

function dropTypist(r, user) {
  if (!r.typists.has(user)) return;
  clearTimeout(r.typists.get(user));
  r.typists.delete(user);
  if (r.name === state.active) renderTyping();
}

function clearTypists(r) {
  for (const t of r.typists.values()) clearTimeout(t);
  r.typists.clear();
}

function renderTyping() {
  const r = state.rooms.get(state.active);
  ui.typing.textContent = r ? typingText(r.typists.keys()) : '';
}

// My own typing: typing:start every TYPING_RESEND_MS while keys come,
// typing:stop after TYPING_IDLE_MS without one, on send and on leaving.
const typing = { room: '', sentAt: 0, idle: 0 };

function keyTyped() {
  const r = state.rooms.get(state.active);
  if (!r?.joined) return;
  if (!ui.sendInput.value.trim()) {
    stopTyping();
    return;
  }
  const now = Date.now();
  if (typing.room !== r.name || now - typing.sentAt > TYPING_RESEND_MS) {
    if (typing.room && typing.room !== r.name) stopTyping();
    typing.room = r.name;
    typing.sentAt = now;
    ack('typing:start', { room: r.name }).catch(() => {});
  }
  clearTimeout(typing.idle);
  typing.idle = setTimeout(stopTyping, TYPING_IDLE_MS);
}

function stopTyping() {
  clearTimeout(typing.idle);
  if (!typing.room) return;
  const room = typing.room;
  typing.room = '';
  typing.sentAt = 0;
  if (state.rooms.get(room)?.joined) ack('typing:stop', { room }).catch(() => {});
}

// ---- sending -------------------------------------------------------------------

async function send() {
  const r = state.rooms.get(state.active);
  const text = ui.sendInput.value.trim();
  if (!r?.joined || !text) return;
  ui.sendError.textContent = '';
  ui.sendBtn.disabled = true;
  stopTyping();
  try {
    await ack('chat:message', { room: r.name, text });
    ui.sendInput.value = '';
    autosize();
  } catch (err) {
    ui.sendError.textContent = `Not sent: ${err.message}`;
  } finally {
    ui.sendBtn.disabled = !r.joined;
    ui.sendInput.focus();
  }
}

function autosize() {
  ui.sendInput.style.height = 'auto';
  ui.sendInput.style.height = `${Math.min(ui.sendInput.scrollHeight + 2, 160)}px`;
}

// ---- rendering -----------------------------------------------------------------

function renderAll() {
  renderRoomList();
  renderConv();
  renderPresence();
  renderTyping();
  if (state.active) renderSeen(room(state.active));
}

function renderConv() {
  const r = state.rooms.get(state.active);
  const joined = !!r?.joined;
  ui.roomTitle.textContent = r ? roomLabel(r.name) : 'No room open';
  ui.roomSub.textContent = !r ? '' : joined ? (r.name.startsWith('dm:') ? `direct messages · ${r.name}` : 'joined') : 'not joined';
  ui.joinBtn.hidden = !r || joined;
  ui.leaveBtn.hidden = !joined;
  ui.sendInput.disabled = !joined;
  ui.sendInput.placeholder = r ? `Message ${roomLabel(r.name)}` : 'Write a message';
  ui.sendBtn.disabled = !joined;
  ui.olderBtn.hidden = !r || r.noOlder || r.msgs.size === 0;
  if (!r) list.clear('Pick a room, or join one.');
}

function roomLabel(name) {
  const m = /^dm:([^:]+):([^:]+)$/.exec(name);
  if (m && (m[1] === state.me || m[2] === state.me)) return `@${m[1] === state.me ? m[2] : m[1]}`;
  return `#${name}`;
}

// ---- wiring --------------------------------------------------------------------

function wire() {
  ui.joinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const name = ui.joinInput.value.trim();
    if (!name) return;
    ui.joinInput.value = '';
    openRoom(name);
  });
  ui.dmForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const { room: name, reason } = dmRoom(state.me, ui.dmInput.value.trim());
    if (!name) {
      ui.sideError.textContent = reason;
      return;
    }
    ui.dmInput.value = '';
    openRoom(name);
  });
  ui.joinBtn.addEventListener('click', async () => {
    const r = state.rooms.get(state.active);
    if (r) await join(r);
    if (r?.joined) ui.sendInput.focus();
  });
  ui.leaveBtn.addEventListener('click', () => {
    const r = state.rooms.get(state.active);
    if (r) leave(r);
  });
  ui.olderBtn.addEventListener('click', loadOlder);
  ui.drop.addEventListener('click', drop);
  ui.sendForm.addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  ui.sendInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  ui.sendInput.addEventListener('input', () => {
    autosize();
    keyTyped();
  });
  document.addEventListener('visibilitychange', () => {
    const r = state.rooms.get(state.active);
    if (r && document.visibilityState === 'visible') markRead(r);
  });
}

// For the browser tests and the curious: the page's state.
globalThis.rtChat = state;

start();
