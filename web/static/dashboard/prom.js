// A reader of the Prometheus text exposition format (version 0.0.4, what
// /metrics serves), and the arithmetic the dashboard does on it: sums by
// label, rates between two scrapes and quantiles of histogram buckets.
// Our own: the format is a few lines of grammar and no browser library on
// npm reads it without a bundler. It has no DOM dependency, so Node runs
// it too (TestDashboardPromParser compares it with client_golang's parser).

/**
 * parse reads exposition text into samples [{name, labels, value}] in the
 * order of the text, and types {family: "counter"|"gauge"|…} from the
 * # TYPE lines. Values are numbers (NaN, +Inf and -Inf included); label
 * values are unescaped (\\, \" and \n). A line that does not parse is
 * skipped and counted in `skipped`, so a new kind of line never breaks the
 * page. Timestamps after the value are ignored.
 */
export function parse(text) {
  const samples = [];
  const types = {};
  let skipped = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    if (line.startsWith('#')) {
      const m = /^#\s*TYPE\s+(\S+)\s+(\S+)/.exec(line);
      if (m) types[m[1]] = m[2];
      continue;
    }
    const s = sample(line);
    if (s) samples.push(s);
    else skipped++;
  }
  return { samples, types, skipped };
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;

/** sample parses one sample line, or returns null. */
function sample(line) {
  const m = NAME.exec(line);
  if (!m) return null;
  const name = m[0];
  let i = name.length;
  const labels = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i++;
      if (line[i] === '}') { i++; break; }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(line.slice(i));
      if (!lm) return null;
      i += lm[0].length;
      while (line[i] === ' ') i++;
      if (line[i] !== '=' ) return null;
      i++;
      while (line[i] === ' ') i++;
      if (line[i] !== '"') return null;
      i++;
      let v = '';
      for (;;) {
        const c = line[i++];
        if (c === undefined) return null;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          v += e === 'n' ? '\n' : e;
        } else {
          v += c;
        }
      }
      labels[lm[0]] = v;
    }
  }
  const rest = line.slice(i).trim().split(/\s+/);
  const value = number(rest[0]);
  if (value === null) return null;
  return { name, labels, value };
}

/** number reads a sample value: a float, NaN, +Inf or -Inf. */
function number(s) {
  if (s === undefined || s === '') return null;
  if (/^\+?Inf$/i.test(s)) return Infinity;
  if (/^-Inf$/i.test(s)) return -Infinity;
  if (/^NaN$/i.test(s)) return NaN;
  const v = Number(s);
  return Number.isNaN(v) ? null : v;
}

/** Scrape is one parsed /metrics answer with lookups by name and label. */
export class Scrape {
  constructor(text, time) {
    const { samples, types, skipped } = parse(text);
    this.time = time; // ms, the moment the answer arrived
    this.types = types;
    this.skipped = skipped;
    this.byName = new Map();
    for (const s of samples) {
      const list = this.byName.get(s.name);
      if (list) list.push(s);
      else this.byName.set(s.name, [s]);
    }
  }

  /** has reports whether the scrape holds any sample of name. */
  has(name) { return this.byName.has(name); }

  /** sum adds the samples of name whose labels match where (all of its pairs); null when none. */
  sum(name, where = {}) {
    let total = null;
    for (const s of this.byName.get(name) ?? []) {
      if (Object.entries(where).every(([k, v]) => (s.labels[k] ?? '') === v)) total = (total ?? 0) + s.value;
    }
    return total;
  }

  /** by sums the samples of name per value of one label: {value: sum}. */
  by(name, label) {
    const out = {};
    for (const s of this.byName.get(name) ?? []) {
      const k = s.labels[label] ?? '';
      out[k] = (out[k] ?? 0) + s.value;
    }
    return out;
  }

  /**
   * histogram returns {buckets: [[le, cumulative count]…] sorted by le,
   * sum, count} of the series of name whose labels match where (all of
   * them added up: the histogram of every transport, say), or null.
   */
  histogram(name, where = {}) {
    const match = (s) => Object.entries(where).every(([k, v]) => (s.labels[k] ?? '') === v);
    const bs = this.byName.get(`${name}_bucket`)?.filter(match);
    if (!bs?.length) return null;
    const buckets = new Map();
    for (const s of bs) {
      const le = number(s.labels.le);
      if (le !== null) buckets.set(le, (buckets.get(le) ?? 0) + s.value);
    }
    return {
      buckets: [...buckets].sort((a, b) => a[0] - b[0]),
      sum: this.sum(`${name}_sum`, where) ?? 0,
      count: this.sum(`${name}_count`, where) ?? 0,
    };
  }
}

/**
 * rate is the per-second increase of a counter between two scrapes, 0 when
 * the counter went down (the server restarted), null when either lacks it.
 */
export function rate(prev, cur, name, where = {}) {
  if (!prev) return null;
  const a = prev.sum(name, where);
  const b = cur.sum(name, where);
  const dt = (cur.time - prev.time) / 1000;
  if (a === null || b === null || dt <= 0) return null;
  return b >= a ? (b - a) / dt : 0;
}

/**
 * histogramDelta is what a histogram (its series matching where)
 * observed between two scrapes ({buckets, sum, count}): null when cur
 * lacks it, all of cur's when prev lacks it or it was reset.
 */
export function histogramDelta(prev, cur, name, where = {}) {
  const b = cur.histogram(name, where);
  if (!b) return null;
  const a = prev?.histogram(name, where);
  if (!a) return b;
  if (b.count < a.count) return b; // restarted: everything is new
  const before = new Map(a.buckets);
  return {
    buckets: b.buckets.map(([le, n]) => [le, n - (before.get(le) ?? 0)]),
    sum: b.sum - a.sum,
    count: b.count - a.count,
  };
}

/**
 * quantile estimates the q-quantile of a histogram's observations the way
 * Prometheus' histogram_quantile does: linear within the bucket that holds
 * the rank, the upper bound of the last finite bucket when the rank falls
 * in +Inf. With upper set it answers the bucket's upper bound instead
 * (for counts, such as events per commit, where "at most N" reads better
 * than an interpolated fraction), the +Inf bucket still answering the last
 * finite bound. null when the histogram observed nothing.
 */
export function quantile(h, q, { upper = false } = {}) {
  if (!h || h.count <= 0 || !h.buckets.length) return null;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const [le, n] of h.buckets) {
    if (n >= rank) {
      if (le === Infinity) return lower;
      if (n === below || upper) return le;
      return lower + (le - lower) * ((rank - below) / (n - below));
    }
    if (le !== Infinity) lower = le;
    below = n;
  }
  return lower;
}
