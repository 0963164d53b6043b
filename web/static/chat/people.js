// The side lists of the chat page: rooms with their unread counts, the
// people in the open room, and the line that says who is typing. Names
// come from tokens and room names: they are set as text, never as HTML.

import { el } from '../transports/util.js';
import { dmPeer } from './auth.js';

/**
 * renderRooms fills the room list: rooms is [{name, unread, joined}],
 * sorted as shown; me names the DM peer; open(name) is called when one is
 * picked.
 */
export function renderRooms(ul, rooms, active, me, open) {
  // The list is built again on every change: keep the focus where it was.
  const focused = ul.contains(document.activeElement) ? document.activeElement.dataset.room : null;
  ul.replaceChildren(...rooms.map((r) => {
    const peer = dmPeer(r.name, me);
    const label = peer ? `@${peer}` : `#${r.name}`;
    const unread = r.unread > 0
      ? el('span', { class: 'unread', 'data-count': r.unread },
        el('span', { 'aria-hidden': 'true' }, r.unread > 999 ? '999+' : String(r.unread)),
        el('span', { class: 'visually-hidden' }, `, ${r.unread} unread`))
      : null;
    const btn = el('button', {
      type: 'button',
      class: 'room-btn',
      'data-room': r.name,
      'aria-current': r.name === active ? 'true' : false,
      title: peer ? `Direct messages with ${peer} (${r.name})` : r.name,
    },
    el('span', { class: 'room-name' }, label),
    r.joined ? el('span', { class: 'joined-dot', title: 'joined' }, el('span', { class: 'visually-hidden' }, ', joined')) : null,
    unread);
    btn.addEventListener('click', () => open(r.name));
    return el('li', {}, btn);
  }));
  if (focused !== null) ul.querySelector(`[data-room="${CSS.escape(focused)}"]`)?.focus();
}

/**
 * renderPeople fills the presence list from a room:presence answer
 * ({count, anonymous, listed, members}) or {error}.
 */
export function renderPeople(ul, count, note, p, me) {
  ul.replaceChildren();
  if (!p) {
    count.textContent = '';
    note.textContent = 'Join a room to see who is here.';
    return;
  }
  if (p.error) {
    count.textContent = '';
    note.textContent = `Not available: ${p.error}`;
    return;
  }
  count.textContent = `(${p.count + (p.anonymous ?? 0)})`;
  for (const m of p.members ?? []) {
    ul.append(el('li', { class: 'person', 'data-user': m.user },
      el('span', { class: 'presence-dot', 'aria-hidden': 'true' }),
      el('span', { class: 'person-name' }, m.user === me ? `${m.user} (you)` : m.user),
      m.connections > 1 ? el('span', { class: 'muted small' }, ` ${m.connections} connections`) : null));
  }
  const parts = [];
  if (!p.listed) parts.push(`${p.count} users: too many to list.`);
  if (p.anonymous) parts.push(`${p.anonymous} anonymous ${p.anonymous === 1 ? 'connection' : 'connections'}.`);
  note.textContent = parts.join(' ');
}

/** typingText says who is typing: "ada is typing…", "ada and bob are typing…". */
export function typingText(users) {
  const u = [...users].sort();
  if (u.length === 0) return '';
  if (u.length === 1) return `${u[0]} is typing…`;
  if (u.length === 2) return `${u[0]} and ${u[1]} are typing…`;
  if (u.length === 3) return `${u[0]}, ${u[1]} and ${u[2]} are typing…`;
  return `${u[0]}, ${u[1]} and ${u.length - 2} others are typing…`;
}
