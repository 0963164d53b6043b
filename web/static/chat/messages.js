// The open room's messages in the page: one <li> per message, keyed by
// offset, inserted in offset order, updated in place when an edit arrives
// and removed on a delete. Text from the server or a user only reaches
// the page through text nodes (el) and attributes: nothing here assigns
// innerHTML, so a message that looks like HTML is shown as the text it is.

import { el } from '../transports/util.js';

const NEAR_BOTTOM_PX = 80;
const CONFIRM_MS = 4000;
const GROUP_MS = 5 * 60 * 1000;

/** messageText is what a message shows: data.text, or the data as JSON. */
export function messageText(type, data) {
  if (type === 'chat:message' && data && typeof data.text === 'string') return data.text;
  if (data && typeof data === 'object' && typeof data.text === 'string') return data.text;
  try { return JSON.stringify(data); } catch { return String(data); }
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });

/**
 * MessageList renders one room's messages into an <ol> inside a scrolling
 * wrapper. actions are {canChange(msg), edit(msg, text) → Promise,
 * remove(msg) → Promise}; a rejected promise's message is shown.
 */
export class MessageList {
  constructor(ol, wrap, empty, newer, actions) {
    this.ol = ol;
    this.newer = newer; // "New messages below": shown while the reader is up the list
    newer.addEventListener('click', () => {
      this.scrollToBottom();
      this.wrap.focus();
    });
    this.wrap = wrap;
    this.empty = empty;
    this.actions = actions;
    this.items = new Map(); // offset → <li>
    this.editing = null; // offset of the message being edited
    // A reader at the newest messages stays there when the view changes
    // size (a phone's keyboard, a narrower window).
    this.atBottom = true;
    wrap.addEventListener('scroll', () => {
      this.atBottom = this.nearBottom();
      if (this.atBottom) newer.hidden = true;
    }, { passive: true });
    new ResizeObserver(() => { if (this.atBottom) this.scrollToBottom(); }).observe(wrap);
  }

  /** clear empties the list (another room is shown). */
  clear(emptyText) {
    this.ol.replaceChildren();
    this.items.clear();
    this.newer.hidden = true;
    this.editing = null;
    this.empty.textContent = emptyText;
    this.empty.hidden = false;
  }

  /** nearBottom says whether the reader is at the newest messages. */
  nearBottom() {
    const w = this.wrap;
    return w.scrollHeight - w.scrollTop - w.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.wrap.scrollTop = this.wrap.scrollHeight;
    this.atBottom = true;
    this.newer.hidden = true;
  }

  /**
   * add shows messages (sorted by offset or not): new ones are inserted
   * in offset order, known ones updated. The view stays at the bottom when
   * it was there, and keeps its place when older messages go above.
   */
  add(msgs) {
    if (!msgs.length) return;
    const stick = this.nearBottom();
    const before = this.wrap.scrollHeight;
    const top = this.wrap.scrollTop;
    let above = false;
    for (const m of msgs) {
      const old = this.items.get(m.offset);
      if (old) {
        this.update(m);
        continue;
      }
      const li = this.build(m);
      this.items.set(m.offset, li);
      const next = [...this.ol.children].find((c) => Number(c.dataset.offset) > m.offset);
      if (next) above = true;
      this.ol.insertBefore(li, next ?? null);
    }
    this.empty.hidden = this.items.size > 0;
    this.regroup();
    if (stick && !above) this.scrollToBottom();
    else if (above) this.wrap.scrollTop = top + (this.wrap.scrollHeight - before);
    else this.newer.hidden = false;
  }

  /** update shows a message's new data (an edit). */
  update(m) {
    const li = this.items.get(m.offset);
    if (!li) return;
    li.querySelector('.msg-edited').hidden = !m.edited;
    if (this.editing !== m.offset) li.querySelector('.msg-text').textContent = messageText(m.type, m.data);
  }

  /** remove takes a deleted message away. */
  remove(offset) {
    const li = this.items.get(offset);
    if (!li) return;
    if (this.editing === offset) this.editing = null;
    li.remove();
    this.items.delete(offset);
    this.empty.hidden = this.items.size > 0;
    this.regroup();
  }

  /**
   * regroup marks a message that follows one of the same author within
   * GROUP_MS as a continuation: its name and time are only read out, not
   * shown again.
   */
  regroup() {
    let prev = null;
    for (const li of this.ol.children) {
      const cont = prev !== null && prev.dataset.from === li.dataset.from &&
        Date.parse(li.dataset.time) - Date.parse(prev.dataset.time) < GROUP_MS;
      li.classList.toggle('msg-cont', cont);
      prev = li;
    }
  }

  /** seen shows "Seen by …" under messages: readers is offset → [user]. */
  seen(readers) {
    for (const [offset, li] of this.items) {
      const p = li.querySelector('.msg-seen');
      const who = readers.get(offset);
      p.textContent = who?.length ? `Seen by ${who.join(', ')}` : '';
      p.hidden = !who?.length;
    }
  }

  build(m) {
    const own = this.actions.canChange(m);
    const text = el('p', { class: 'msg-text' + (m.type === 'chat:message' ? '' : ' msg-other') }, messageText(m.type, m.data));
    const head = el('div', { class: 'msg-head' },
      el('span', { class: 'msg-from', text: m.from ?? '?' }),
      m.type === 'chat:message' ? null : el('span', { class: 'msg-type mono', text: m.type }),
      el('time', { class: 'msg-time', datetime: m.time, title: `offset ${m.offset} · ${m.time}` }, m.time ? timeFmt.format(new Date(m.time)) : ''));
    const body = el('div', { class: 'msg-body' }, text, el('span', { class: 'msg-edited', hidden: !m.edited, text: '(edited)' }));
    const li = el('li', { class: 'msg' + (own ? ' msg-own' : ''), 'data-offset': m.offset, 'data-id': m.id, 'data-from': m.from, 'data-time': m.time }, head, body);
    if (own) body.append(this.buildActions(m, li));
    li.append(el('p', { class: 'msg-seen small', hidden: true }));
    return li;
  }

  buildActions(m, li) {
    const editBtn = el('button', { type: 'button', class: 'btn-link msg-edit', 'aria-label': `Edit your message “${short(messageText(m.type, m.data))}”` }, 'Edit');
    const delBtn = el('button', { type: 'button', class: 'btn-link msg-delete', 'aria-label': `Delete your message “${short(messageText(m.type, m.data))}”` }, 'Delete');
    const err = el('span', { class: 'msg-error error small', role: 'alert' });
    editBtn.addEventListener('click', () => this.startEdit(m.offset, li, editBtn, err));
    let armed = 0;
    delBtn.addEventListener('click', async () => {
      if (!armed) {
        delBtn.textContent = 'Confirm delete';
        armed = setTimeout(() => { armed = 0; delBtn.textContent = 'Delete'; }, CONFIRM_MS);
        return;
      }
      clearTimeout(armed);
      armed = 0;
      delBtn.disabled = true;
      try {
        await this.actions.remove(this.current(m.offset));
      } catch (e) {
        err.textContent = `Not deleted: ${e.message}`;
        delBtn.disabled = false;
        delBtn.textContent = 'Delete';
      }
    });
    return el('div', { class: 'msg-actions' }, editBtn, delBtn, err);
  }

  /** current is the message as last shown (its data may have been edited). */
  current(offset) { return this.actions.lookup(offset); }

  startEdit(offset, li, editBtn, err) {
    if (this.editing !== null) return;
    const m = this.current(offset);
    if (!m) return;
    this.editing = offset;
    err.textContent = '';
    const text = li.querySelector('.msg-text');
    const id = `edit-${offset}`;
    const input = el('textarea', { id, class: 'edit-input', rows: 2, maxlength: 4000 });
    input.value = messageText(m.type, m.data);
    const save = el('button', { type: 'submit', class: 'btn btn-primary btn-small' }, 'Save');
    const cancel = el('button', { type: 'button', class: 'btn btn-ghost btn-small' }, 'Cancel');
    const form = el('form', { class: 'edit-form' },
      el('label', { for: id, class: 'visually-hidden' }, 'Edit message'), input,
      el('div', { class: 'edit-buttons' }, save, cancel, el('span', { class: 'muted small' }, 'Enter saves · Esc cancels')));
    text.hidden = true;
    editBtn.hidden = true;
    text.after(form);
    input.focus();
    const done = () => {
      form.remove();
      text.hidden = false;
      editBtn.hidden = false;
      this.editing = null;
      const now = this.current(offset);
      if (now) text.textContent = messageText(now.type, now.data);
      editBtn.focus();
    };
    cancel.addEventListener('click', done);
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') { e.preventDefault(); done(); }
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const value = input.value.trim();
      if (!value) return;
      save.disabled = true;
      try {
        await this.actions.edit(this.current(offset), value);
        done();
      } catch (ex) {
        err.textContent = `Not saved: ${ex.message}`;
        save.disabled = false;
      }
    });
  }
}

const short = (s) => (s.length > 40 ? `${s.slice(0, 40)}…` : s);
