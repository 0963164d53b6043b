// The history browser: any room's log over HTTP, a page at a time.
//
//   GET /api/rooms/{room}/events?before=&limit=K   the newest page
//   …?before=F&limit=K                             older: the page before the first shown
//   …?after=L&limit=K&epoch=E                      newer: the page after the last shown
//   …?after=N-1&limit=K&epoch=E                    jump to offset N
//   GET /sse?room=R&after=L&epoch=E                follow live (follow.js)
//   GET /api/rooms                                 the room list, heads and retention
//
// The page keeps the log's epoch it has seen (also in its URL, so a link
// names a position (epoch, offset)): a page from another log or a position
// retention removed is shown as a reset row, never as a silent jump. The
// URL always names the page shown, so reloading shows it again.

import { el } from '../transports/util.js';
import { Follower } from './follow.js';
import { eventRow, markRow, resetRow } from './rows.js';

const $ = (sel) => document.querySelector(sel);
// The credential is kept in this tab: the page's own (it may be an API
// key), else the token the other pages keep (always a signed token).
const CRED_KEY = 'rtbroker.history.credential';
const TOKEN_KEY = 'rtbroker.token';
const MAX_ROWS = 2000; // following drops the oldest rows past this
const ROOMS_EVERY_MS = 5000;
const ROOMS_SHOWN = 100; // in the side list, newest first; the name field offers them all

const S = {
  room: '',
  limit: 25,
  epoch: '',
  credential: '',
  items: [], // shown, oldest first: {event} | {reset}
  atStart: false,
  atEnd: false,
  logHead: 0, // the log's head at the last answer
  info: null, // the room's {head, first, count, trimmed} from /api/rooms
  follower: null,
  followState: 'off',
  liveCount: 0,
  target: 0, // the offset jumped to
};

try { S.credential = sessionStorage.getItem(CRED_KEY) ?? sessionStorage.getItem(TOKEN_KEY) ?? ''; } catch { /* storage disabled */ }

/** api fetches JSON; a failure throws the server's message with its status. */
async function api(path) {
  const headers = S.credential ? { Authorization: `Bearer ${S.credential}` } : {};
  const res = await fetch(path, { cache: 'no-store', headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const err = new Error(`${res.status} ${body?.error?.code ?? ''}: ${body?.error?.message ?? res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return body;
}

/** status says what the page shows (announced); detail is a quieter line under it (not announced). */
function status(text, state = 'ok', detail = '') {
  const st = $('#log-status');
  st.textContent = text;
  st.dataset.state = state;
  $('#log-detail').textContent = detail;
}

/**
 * roomPath puts a room name in a URL path. A valid name goes as it is:
 * its characters (letters, digits, _ - . : @) are legal in a path segment,
 * and the server reads a percent-escape in the path literally (chi routes
 * on the escaped path), so "chat%3Ageneral" would be refused. Anything
 * else is escaped, for the server to refuse with its message.
 */
const roomPath = (room) => (/^[A-Za-z0-9_.:@-]+$/.test(room) ? room : encodeURIComponent(room));

const events = () => S.items.filter((i) => i.event).map((i) => i.event);

// ---- rooms ----

let roomsList = [];

/** refreshRooms reads /api/rooms: the side list, the datalist and the open room's facts. */
async function refreshRooms() {
  let body;
  try {
    body = await api('/api/rooms');
  } catch (err) {
    $('#rooms-error').hidden = false;
    $('#rooms-error').textContent = `Could not list the rooms: ${err.message}`;
    return;
  }
  $('#rooms-error').hidden = true;
  roomsList = body.rooms ?? [];
  S.info = roomsList.find((r) => r.room === S.room) ?? null;
  $('#rooms-count').textContent = roomsList.length > ROOMS_SHOWN ? `newest ${ROOMS_SHOWN} of ${roomsList.length}` : `${roomsList.length}`;
  $('#room-names').replaceChildren(...roomsList.map((r) => el('option', { value: r.room })));
  const shown = [...roomsList].sort((a, b) => b.head - a.head).slice(0, ROOMS_SHOWN);
  $('#rooms-body').replaceChildren(...(shown.length ? shown.map((r) => el('tr', { 'aria-current': r.room === S.room ? 'true' : null, 'data-room': r.room },
    el('td', {}, el('button', { type: 'button', class: 'room-link', title: `Open ${r.room}` }, r.room)),
    el('td', { class: 'num mono', text: String(r.head) }),
    el('td', { class: 'num', text: String(r.count) }))) : [el('tr', {}, el('td', { colspan: 3, class: 'muted', text: 'No room has an event yet' }))]));
  facts();
}

$('#rooms-body').addEventListener('click', (e) => {
  const b = e.target.closest('.room-link');
  if (!b) return;
  $('#room-input').value = b.textContent;
  openRoom(b.textContent);
});

function facts() {
  const i = S.info;
  $('#fact-head').textContent = i ? String(i.head) : '–';
  $('#fact-first').textContent = i ? String(i.first) : '–';
  $('#fact-trimmed').textContent = i ? String(i.trimmed) : '–';
  $('#fact-epoch').textContent = S.epoch || '–';
  $('#fact-epoch').title = S.epoch;
}

// ---- the list ----

/** render draws the whole list from S.items and the end markers. */
function render() {
  const rows = [];
  const first = events()[0];
  let i = 0;
  for (; i < S.items.length && S.items[i].reset; i++) rows.push(resetRow(S.items[i].reset, S.epoch));
  if (S.atStart) {
    const trimmed = S.info?.trimmed ?? 0;
    rows.push(markRow('start', trimmed
      ? `Start of the retained log · ${trimmed} older event${trimmed === 1 ? '' : 's'} of this room removed by retention`
      : 'Start of the room\'s log'));
  }
  for (const it of S.items.slice(i)) rows.push(it.event ? eventRow(it.event, { live: it.live }) : resetRow(it.reset, S.epoch));
  if (!first && !S.items.length) rows.push(markRow('empty', S.room ? 'No events here.' : 'Pick a room.'));
  if (S.room) rows.push(endMark());
  $('#events').replaceChildren(...rows);
  if (S.target) {
    const row = $(`#events .hevent[data-offset="${S.target}"]`) ?? $('#events .hevent');
    row?.classList.add('hevent-target');
  }
  buttons();
  facts();
}

function endMark() {
  if (S.follower) return markRow('follow', S.followState === 'live' ? 'Following live: new events appear here' : `Following: ${S.followState}…`);
  if (S.atEnd) return markRow('head', 'Newest event of the room when this page was read');
  return markRow('more', 'Newer events follow: page with Newer →');
}

function buttons() {
  const open = Boolean(S.room);
  $('#older-btn').disabled = !open || S.atStart;
  $('#newer-btn').disabled = !open || S.atEnd || Boolean(S.follower);
  $('#newest-btn').disabled = !open;
  $('#follow-btn').disabled = !open;
  $('#follow-btn').setAttribute('aria-pressed', String(Boolean(S.follower)));
  $('#follow-btn').textContent = S.follower ? 'Stop following' : 'Follow live';
  const active = document.activeElement;
  if (active?.disabled && active.closest('.hpager')) {
    // The button pressed became disabled (the start or the end): focus the way back.
    const back = active.id === 'older-btn' ? $('#newer-btn') : $('#older-btn');
    (back.disabled ? $('#newest-btn') : back).focus();
  }
  document.body.dataset.follow = S.follower ? S.followState : 'off';
  document.body.dataset.atStart = S.atStart ? '1' : '0';
  document.body.dataset.atEnd = S.atEnd ? '1' : '0';
}

function describe() {
  const evs = events();
  if (!evs.length) return `No events in ${S.room} here`;
  const a = evs[0].offset;
  const b = evs[evs.length - 1].offset;
  const ends = [S.atStart && 'the start', S.atEnd && !S.follower && 'the newest'].filter(Boolean);
  return `Offsets ${a}–${b} · ${evs.length} event${evs.length === 1 ? '' : 's'}${ends.length ? ` · ${ends.join(' and ')}` : ''}`;
}

/** url writes the page's position into the address bar. */
function url(params) {
  const q = new URLSearchParams({ room: S.room });
  if (S.limit !== 25) q.set('limit', String(S.limit));
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
  if (S.epoch) q.set('epoch', S.epoch);
  history.replaceState(null, '', `?${q}`);
}

// ---- paging ----

let loading = 0;

/**
 * load reads one page: where is {before} (empty: the newest) or {after};
 * kind is 'newest' | 'older' | 'newer' | 'jump' (for the messages).
 */
async function load(where, kind) {
  stopFollow();
  const mine = ++loading;
  document.body.dataset.loading = '1';
  status('Loading…', 'busy');
  const q = new URLSearchParams({ limit: String(S.limit) });
  if ('after' in where) {
    q.set('after', String(where.after));
    if (S.epoch) q.set('epoch', S.epoch);
  } else {
    q.set('before', where.before ? String(where.before) : '');
  }
  let body;
  try {
    [body] = await Promise.all([api(`/api/rooms/${roomPath(S.room)}/events?${q}`), refreshRooms()]);
  } catch (err) {
    if (mine === loading) {
      status(`Could not read ${S.room}: ${err.message}`, 'error');
      document.body.dataset.loading = '0';
    }
    return;
  }
  if (mine !== loading) return; // a newer request won
  document.body.dataset.loading = '0';
  const evs = body.events ?? [];
  S.logHead = body.head ?? S.logHead;
  if (kind === 'jump' && body.reset?.reason === 'epoch_mismatch' && (!S.epoch || body.epoch === S.epoch) && where.after > (body.head ?? 0)) {
    // Beyond the head of this very log: not another log, just nothing yet.
    S.epoch = body.epoch;
    await load({ before: '' }, 'newest');
    status(`Offset ${where.after + 1} is beyond the log's head (${body.head}): showing the newest events · ${describe()}`, 'warn');
    return;
  }
  const items = [];
  if (body.reset) items.push({ reset: { ...body.reset, was: S.epoch } });
  else if (S.epoch && body.epoch && body.epoch !== S.epoch) items.push({ reset: { reason: 'epoch_changed', from: S.epoch, to: body.epoch } });
  S.epoch = body.epoch ?? S.epoch;
  if (!evs.length && !items.length && (kind === 'older' || kind === 'newer') && events().length) {
    if (kind === 'older') S.atStart = true;
    else S.atEnd = true;
    render();
    status(kind === 'older' ? `No older events: ${describe()}` : `No newer events yet: ${describe()}`);
    return;
  }
  items.push(...evs.map((event) => ({ event })));
  S.items = items;
  const first = evs[0]?.offset;
  const last = evs[evs.length - 1]?.offset;
  S.atStart = !evs.length || ('before' in where && body.prev === 0) || (S.info !== null && first <= S.info.first);
  S.atEnd = !evs.length || kind === 'newest' || (S.info !== null && last >= S.info.head) || ('after' in where && evs.length < S.limit);
  S.target = kind === 'jump' && !body.reset ? where.after + 1 : 0;
  url(kind === 'newest' ? {} : { after: first !== undefined ? first - 1 : where.after });
  render();
  let msg = describe();
  if (body.reset) msg = `Reset (${body.reset.reason}): ${msg}`;
  if (S.target && first !== undefined && first !== S.target) msg += ` · offset ${S.target} is not an event of ${S.room}; the next one is ${first}`;
  status(msg, body.reset ? 'warn' : 'ok');
  if (kind === 'jump') $('#events .hevent-target')?.scrollIntoView({ block: 'nearest' });
}

function openRoom(room, where = {}, kind = 'newest') {
  S.room = room;
  S.items = [];
  S.info = roomsList.find((r) => r.room === room) ?? null;
  $('#log-title').textContent = room;
  $('#log').setAttribute('aria-label', `History of ${room}`);
  document.title = `${room} · History · rtbroker`;
  load(where, kind);
}

$('#room-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('#room-input');
  if (!input.reportValidity()) return;
  const cred = $('#token-input').value.trim();
  if (cred !== S.credential) {
    S.credential = cred;
    try { sessionStorage.setItem(CRED_KEY, cred); } catch { /* storage disabled */ }
  }
  openRoom(input.value.trim());
});

$('#limit-input').addEventListener('change', (e) => {
  S.limit = Number(e.target.value);
  const first = events()[0];
  if (S.room) load(first ? { after: first.offset - 1 } : { before: '' }, first ? 'newer' : 'newest');
});

$('#jump-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const n = Number($('#jump-input').value);
  if (!S.room) {
    status('Open a room first', 'error');
    $('#room-input').focus();
    return;
  }
  if (!Number.isSafeInteger(n) || n < 1) {
    status('An offset is a whole number from 1', 'error');
    return;
  }
  load({ after: n - 1 }, 'jump');
});

$('#older-btn').addEventListener('click', () => {
  const first = events()[0];
  load({ before: first ? first.offset : '' }, 'older');
});

$('#newer-btn').addEventListener('click', () => {
  const evs = events();
  const last = evs[evs.length - 1];
  load({ after: last ? last.offset : S.logHead }, 'newer');
});

$('#newest-btn').addEventListener('click', () => load({ before: '' }, 'newest'));

// ---- following ----

let roomsTimer = 0;
/** roomsSoon refreshes the room list within a second (live events move its heads). */
function roomsSoon() {
  if (!roomsTimer) roomsTimer = setTimeout(() => { roomsTimer = 0; refreshRooms(); }, 1000);
}

function stopFollow() {
  if (!S.follower) return;
  const f = S.follower;
  S.follower = null;
  f.close();
}

/** append adds one live row at the end, dropping the oldest past MAX_ROWS. */
function append(item) {
  S.items.push(item);
  const list = $('#events');
  list.lastElementChild?.remove(); // the end marker
  list.querySelector('[data-mark="empty"]')?.remove();
  list.append(item.event ? eventRow(item.event, { live: item.live }) : resetRow(item.reset, S.epoch), endMark());
  while (S.items.length > MAX_ROWS) {
    S.items.shift();
    const firstRow = list.querySelector('.hevent, .hreset');
    firstRow?.remove();
    if (S.atStart) {
      S.atStart = false;
      list.querySelector('[data-mark="start"]')?.remove();
    }
  }
  buttons();
}

function startFollow() {
  const evs = events();
  const after = evs.length ? evs[evs.length - 1].offset : S.logHead;
  // Events up to the room's head as known now are caught up, not live.
  const caughtUpTo = Math.max(after, S.info?.head ?? 0);
  S.liveCount = 0;
  S.follower = new Follower({
    room: S.room,
    after,
    epoch: S.epoch,
    credential: S.credential,
    onEvent: (ev) => {
      if (!S.follower) return;
      S.liveCount++;
      S.atEnd = true;
      append({ event: ev, live: ev.offset > caughtUpTo });
      if (S.info && ev.offset > S.info.head) S.info.head = ev.offset;
      roomsSoon();
      facts();
      url({ after: (events()[0]?.offset ?? 1) - 1 });
      $('#log-detail').textContent = `${S.liveCount} received since following began · ${describe()}`;
    },
    onReset: (reset) => {
      if (!S.follower) return;
      if (reset.epoch) S.epoch = reset.epoch;
      append({ reset });
      status(`Reset while following (${reset.reason}): continuing after offset ${reset.resume}`, 'warn');
    },
    onState: (state, detail) => {
      if (state === 'closed') return;
      S.followState = state;
      const list = $('#events');
      if (S.follower) list.lastElementChild?.replaceWith(endMark());
      buttons();
      if (state === 'live') status(`Following live over SSE after offset ${events().at(-1)?.offset ?? after}`, 'ok', describe());
      else if (state === 'reconnecting') status(`Following: reconnecting (${detail}); resumes after the last offset shown`, 'warn');
      else if (state === 'refused') {
        S.follower = null;
        render();
        status(`Could not follow: ${detail}`, 'error');
      }
    },
  });
  render();
}

$('#follow-btn').addEventListener('click', () => {
  if (S.follower) {
    stopFollow();
    render();
    status(`Stopped following · ${describe()}`);
  } else {
    startFollow();
  }
});

// ---- start ----

function start() {
  const p = new URLSearchParams(location.search);
  const limit = Number(p.get('limit'));
  if ([10, 25, 50, 100, 500].includes(limit)) S.limit = limit;
  $('#limit-input').value = String(S.limit);
  $('#token-input').value = S.credential;
  S.epoch = p.get('epoch') ?? '';
  const room = p.get('room');
  refreshRooms().then(() => { document.body.dataset.ready = '1'; });
  setInterval(refreshRooms, ROOMS_EVERY_MS);
  if (!room) {
    render();
    return;
  }
  $('#room-input').value = room;
  const after = p.get('after');
  const before = p.get('before');
  if (after !== null && /^\d+$/.test(after)) openRoom(room, { after: Number(after) }, Number(after) === 0 ? 'newer' : 'jump');
  else if (before !== null && /^\d+$/.test(before)) openRoom(room, { before: Number(before) }, 'older');
  else openRoom(room);
}

start();
globalThis.rtHistory = S; // for the console
