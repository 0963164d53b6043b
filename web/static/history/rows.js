// The rows of the history list: an event, a reset, and the markers at
// the ends of the log. Everything from the server goes through text nodes
// and attributes (el), never HTML.

import { el } from '../transports/util.js';

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** fmtTime shows an event's time in local time to the millisecond, with the date when not today. */
export function fmtTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso ?? '';
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return t;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${t}`;
}

/** eventRow renders one logged event; live marks one committed after following began. */
export function eventRow(ev, { live = false } = {}) {
  const data = JSON.stringify(ev.data);
  const tags = [];
  if (ev.edited) tags.push(el('span', { class: 'ev-tag', title: `edited by ${ev.edited.from ?? '?'} at ${ev.edited.time ?? '?'}` }, 'edited'));
  if (ev.deleted) tags.push(el('span', { class: 'ev-tag', title: `deleted by ${ev.deleted.from ?? '?'}` }, 'deleted'));
  if (live) tags.push(el('span', { class: 'ev-tag ev-live' }, 'live'));
  return el('li', { class: `hevent${live ? ' hevent-live' : ''}`, 'data-offset': ev.offset, 'data-id': ev.id },
    el('div', { class: 'event-meta' },
      el('span', { class: 'ev-offset mono', title: 'offset in the log' }, String(ev.offset)),
      el('span', { class: 'ev-type', title: 'type' }, ev.type ?? ''),
      el('span', { class: 'ev-from', title: `from ${ev.from ?? ''}` }, ev.from ?? ''),
      ...tags,
      el('span', { class: 'ev-id mono', title: 'event id' }, ev.id ?? ''),
      el('time', { class: 'ev-time mono', datetime: ev.time, title: ev.time }, fmtTime(ev.time))),
    el('div', { class: 'ev-data mono' }, data === undefined ? '' : data));
}

/**
 * resetRow renders a reset: reset is the server's object
 * {reason, requested, resume, epoch?} or the page's own
 * {reason: 'epoch_changed', from, to} when a page came from another log.
 */
export function resetRow(reset, epoch) {
  let title;
  let text;
  switch (reset.reason) {
    case 'trimmed':
      title = 'Reset · trimmed by retention';
      text = `Events after offset ${reset.requested} up to ${reset.resume} were removed by retention: they are gone. The log continues after offset ${reset.resume}, its earliest retained event.`;
      break;
    case 'epoch_mismatch':
      title = 'Reset · another log';
      text = `Offset ${reset.requested}${reset.was ? ` of epoch ${reset.was}` : ''} is not a position in this log: it comes from another epoch (a deleted and recreated log) or lies beyond the head. Continuing after offset ${reset.resume} of epoch ${reset.epoch ?? epoch ?? '?'}.`;
      break;
    case 'epoch_changed':
      title = 'Reset · the log changed';
      text = `The server's log is now epoch ${reset.to}, no longer ${reset.from}: offsets read before mean nothing in it. Showing this log's events.`;
      break;
    default:
      title = `Reset · ${reset.reason}`;
      text = `The position could not be honoured; continuing after offset ${reset.resume ?? '?'}.`;
  }
  return el('li', { class: 'hreset', role: 'note', 'data-reason': reset.reason },
    el('strong', { class: 'hreset-title' }, title),
    el('span', {}, text));
}

/** markRow renders a marker at an end of the log (the start, the head, following). */
export function markRow(kind, text) {
  return el('li', { class: `hmark hmark-${kind}`, 'data-mark': kind }, text);
}
