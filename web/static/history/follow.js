// Following a room live: GET /sse?room=R&after=N read with fetch, the
// stream parsed here. Not EventSource, for two reasons: EventSource cannot
// send an Authorization header (and API keys are accepted from headers
// only), and it dispatches named events only to listeners registered per
// name, while a room's event types are not known in advance. Reconnects
// resume after the last offset received (the SSE id), like EventSource's
// Last-Event-ID, after the server's retry: delay.

const DEFAULT_RETRY_MS = 2000;

/**
 * Follower reads a room's events after an offset until close(). Callbacks:
 * onEvent(event) for each logged event (ephemeral ones, which have no id,
 * are skipped: they are not in the log), onReset(reset) for an SSE reset
 * (the position could not be honoured, or retention overtook the stream),
 * onState(state, detail) with 'connecting' | 'live' | 'reconnecting' |
 * 'refused' (401/403/400: not retried) | 'closed'.
 */
export class Follower {
  constructor({ room, after, epoch, credential, onEvent, onReset, onState }) {
    Object.assign(this, { room, after, epoch, credential, onEvent, onReset, onState });
    this.retryMs = DEFAULT_RETRY_MS;
    this.ctl = null;
    this.closed = false;
    this.run();
  }

  close() {
    this.closed = true;
    this.ctl?.abort();
    this.onState('closed');
  }

  url() {
    const q = new URLSearchParams({ room: this.room, after: String(this.after) });
    if (this.epoch) q.set('epoch', this.epoch);
    return `/sse?${q}`;
  }

  async run() {
    while (!this.closed) {
      let why;
      this.ctl = new AbortController();
      this.onState('connecting');
      try {
        const headers = { Accept: 'text/event-stream' };
        if (this.credential) headers.Authorization = `Bearer ${this.credential}`;
        const res = await fetch(this.url(), { headers, cache: 'no-store', signal: this.ctl.signal });
        if (!res.ok) {
          const body = await res.json().catch(() => null);
          const msg = body?.error?.message ?? `status ${res.status}`;
          if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
            this.closed = true;
            this.onState('refused', `${res.status}: ${msg}`);
            return;
          }
          throw new Error(msg);
        }
        this.onState('live');
        await this.read(res.body);
        why = 'the stream ended';
      } catch (err) {
        why = err?.message ?? String(err);
      }
      if (this.closed) return;
      this.onState('reconnecting', why);
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  /** read parses the stream's frames until it ends. */
  async read(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, '\n');
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        this.frame(buf.slice(0, end));
        buf = buf.slice(end + 2);
      }
    }
  }

  /** frame handles one SSE frame: field lines up to a blank line. */
  frame(text) {
    let id = null;
    let event = 'message';
    const data = [];
    for (const line of text.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'retry' && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (!data.length) return;
    let obj;
    try { obj = JSON.parse(data.join('\n')); } catch { return; }
    if (event === 'reset') {
      if (id !== null && /^\d+$/.test(id)) this.after = Number(id);
      if (obj.epoch) this.epoch = obj.epoch;
      this.onReset(obj);
      return;
    }
    if (id === null || !/^\d+$/.test(id)) return; // ephemeral: not in the log
    this.after = Number(id);
    this.onEvent(obj);
  }
}
