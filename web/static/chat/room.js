// What the chat page knows of one room: its messages by offset, the
// changes (edits, deletes) that name them, who is typing and who has read
// what. Messages arrive in two ways — live and on join over the socket,
// in offset order, and older pages over HTTP — and a change may arrive
// before the message it names is loaded (it is kept and applied then).

/** CHANGE_TYPES are the logged events that change an earlier message. */
export const CHANGE_TYPES = new Set(['message:edit', 'message:delete']);

/** Room is one room's state in the page; it touches no DOM. */
export class Room {
  constructor(name) {
    this.name = name;
    this.head = 0; // the room's newest offset, as last listed
    this.read = 0; // my read position (0: none)
    this.unread = 0;
    this.joined = false;
    this.epoch = '';
    this.last = 0; // newest offset received over the socket
    this.first = 0; // oldest offset the page has (0: none)
    this.start = null; // the join ack's start: events above it were sent
    this.noOlder = false;
    this.msgs = new Map(); // offset → {offset, id, type, data, from, time, edited}
    this.changes = new Map(); // message offset → {at, data?, deleted?}
    this.typists = new Map(); // user → expiry timer
    this.receipts = new Map(); // user → offset they have read up to
    this.presence = null;
  }

  /** saw notes a logged event's offset. */
  saw(offset) {
    if (!this.first || offset < this.first) this.first = offset;
    this.head = Math.max(this.head, offset);
  }

  /**
   * message keeps a logged event that is not a change, with the latest
   * change known for it; it returns the message as shown, or null when
   * it was deleted.
   */
  message(ev) {
    const m = { offset: ev.offset, id: ev.id, type: ev.type, data: ev.data, from: ev.from, time: ev.time, edited: false };
    const c = this.changes.get(m.offset);
    if (c?.deleted) return null;
    const shown = c ? { ...m, data: c.data, edited: true } : m;
    this.msgs.set(shown.offset, shown);
    return shown;
  }

  /**
   * change records message:edit / message:delete ({id, offset, data?})
   * logged at offset at. It returns {deleted: offset}, {edited: message}
   * (the message as it now shows), or null when nothing shown changes.
   */
  change(type, data, at) {
    const target = Number(data?.offset);
    if (!Number.isFinite(target)) return null;
    const known = this.changes.get(target);
    if (known && known.at > at) return null; // a later change is already known
    if (type === 'message:delete') {
      this.changes.set(target, { at, deleted: true });
      return this.msgs.delete(target) ? { deleted: target } : null;
    }
    this.changes.set(target, { at, data: data.data });
    const m = this.msgs.get(target);
    if (!m) return null;
    const edited = { ...m, data: data.data, edited: true };
    this.msgs.set(target, edited);
    return { edited };
  }

  /**
   * older folds a page of older history (oldest first, all below what
   * the page has) and returns its messages to show. prev is the page's
   * prev: 0 when there is nothing older.
   */
  older(events, prev) {
    for (const ev of events) {
      this.saw(ev.offset);
      if (CHANGE_TYPES.has(ev.type)) this.change(ev.type, ev.data, ev.offset);
    }
    const shown = [];
    for (const ev of events) {
      if (CHANGE_TYPES.has(ev.type) || this.msgs.has(ev.offset)) continue;
      const m = this.message(ev);
      if (m) shown.push(m);
    }
    if (!prev || events.length === 0) this.noOlder = true;
    return shown;
  }

  /**
   * trim forgets the oldest messages beyond max (a page left open on a
   * busy room stays small) and returns their offsets; "Load older" reads
   * them again.
   */
  trim(max) {
    if (this.msgs.size <= max) return [];
    const drop = this.sorted().slice(0, this.msgs.size - max).map((m) => m.offset);
    for (const o of drop) this.msgs.delete(o);
    this.first = this.sorted()[0].offset;
    this.noOlder = false;
    return drop;
  }

  /** sorted is the messages, oldest first. */
  sorted() {
    return [...this.msgs.values()].sort((a, b) => a.offset - b.offset);
  }

  /**
   * readers places each reader under the newest message they have read
   * that someone else wrote: offset → [user], sorted.
   */
  readers(me) {
    const msgs = this.sorted();
    const out = new Map();
    for (const [user, upTo] of this.receipts) {
      if (user === me) continue;
      let at = 0;
      for (const m of msgs) if (m.offset <= upTo && m.from !== user) at = m.offset;
      if (!at) continue;
      if (!out.has(at)) out.set(at, []);
      out.get(at).push(user);
    }
    for (const users of out.values()) users.sort();
    return out;
  }
}
