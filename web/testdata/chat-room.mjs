// chat-room.mjs checks the chat page's room model (static/chat/room.js,
// which touches no DOM) in Node: how live events, older pages, edits,
// deletes and receipts fold into what a room shows.
//
//   node chat-room.mjs PATH/TO/room.js
//
// It prints one line per failed case and exits 1 when any failed.
import { readFileSync } from 'node:fs';

const src = readFileSync(process.argv[2], 'utf8');
const { Room } = await import(`data:text/javascript,${encodeURIComponent(src)}`);

let failed = 0;
const eq = (what, got, want) => {
  if (JSON.stringify(got) !== JSON.stringify(want)) {
    failed++;
    console.log(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  }
};
const msg = (offset, from, text) => ({ offset, id: `id${offset}`, type: 'chat:message', data: { text }, from, time: '2026-12-06T08:00:00Z' });
const edit = (offset, target, text) => ({ offset, id: `id${offset}`, type: 'message:edit', data: { id: `id${target}`, offset: target, data: { text } }, from: 'ada' });
const del = (offset, target) => ({ offset, id: `id${offset}`, type: 'message:delete', data: { id: `id${target}`, offset: target }, from: 'ada' });
const texts = (r) => r.sorted().map((m) => `${m.offset}:${m.data.text}${m.edited ? '*' : ''}`);

{
  // Live: a message, then its edit, then a delete of another.
  const r = new Room('general');
  r.message(msg(1, 'ada', 'helo'));
  r.message(msg(2, 'bob', 'spam'));
  eq('live edit', r.change('message:edit', edit(3, 1, 'hello').data, 3), { edited: { ...r.msgs.get(1) } });
  eq('live delete', r.change('message:delete', del(4, 2).data, 4), { deleted: 2 });
  eq('live: shown', texts(r), ['1:hello*']);
  eq('delete of a message not shown', r.change('message:delete', del(5, 99).data, 5), null);
}
{
  // An older page holds a message and its edit; a later edit is known already (live).
  const r = new Room('general');
  r.message(msg(10, 'bob', 'latest'));
  r.change('message:edit', edit(11, 1, 'third version').data, 11);
  r.change('message:delete', del(12, 2).data, 12);
  const shown = r.older([msg(1, 'ada', 'first'), msg(2, 'ada', 'gone'), edit(3, 1, 'second version'), msg(4, 'bob', 'four')], 0);
  eq('older: shown from the page', shown.map((m) => `${m.offset}:${m.data.text}${m.edited ? '*' : ''}`), ['1:third version*', '4:four']);
  eq('older: all', texts(r), ['1:third version*', '4:four', '10:latest']);
  eq("older: nothing changed on the live message", r.msgs.get(10).edited, false);
  eq('older: first', r.first, 1);
  eq('older: prev 0 means nothing older', r.noOlder, true);
}
{
  // A page with more before it.
  const r = new Room('general');
  r.older([msg(5, 'ada', 'five')], 4);
  eq('older with prev: more to load', r.noOlder, false);
}
{
  // Receipts: each reader under the newest message of someone else they read; not me.
  const r = new Room('general');
  for (const m of [msg(1, 'ada', 'a'), msg(2, 'bob', 'b'), msg(3, 'ada', 'c'), msg(4, 'bob', 'd')]) r.message(m);
  r.receipts.set('bob', 4);
  r.receipts.set('eve', 2);
  r.receipts.set('ada', 4);
  eq('readers', [...r.readers('ada')], [[3, ['bob']], [2, ['eve']]]);
}
{
  // A long-open room keeps its newest messages; the rest can be read again.
  const r = new Room('general');
  for (let o = 1; o <= 10; o++) r.message(msg(o, 'bob', `m${o}`));
  r.noOlder = true;
  eq('trim: dropped', r.trim(4), [1, 2, 3, 4, 5, 6]);
  eq('trim: kept', texts(r), ['7:m7', '8:m8', '9:m9', '10:m10']);
  eq('trim: first', r.first, 7);
  eq('trim: older can be loaded again', r.noOlder, false);
  eq('trim: under the limit', r.trim(4), []);
}
process.exit(failed ? 1 : 0);
