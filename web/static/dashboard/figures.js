// The dashboard's figures, worked out from scrapes (prom.js): no DOM here.
// A metric this server does not report gives null, and the page says so
// ("not reported by this server") instead of showing a zero: the page
// runs against older servers and newer ones alike.

import { histogramDelta, quantile, rate } from './prom.js';

const ms = (h, q) => { const v = quantile(h, q); return v === null ? null : v * 1000; };

/** connectionsBy reads open connections per transport (older servers: the per-transport gauges). */
export function connectionsBy(s) {
  if (s.has('rtbroker_connections')) return s.by('rtbroker_connections', 'transport');
  const out = {};
  for (const [t, name] of [['sse', 'rtbroker_sse_streams'], ['longpoll', 'rtbroker_longpoll_requests'], ['socketio', 'rtbroker_socketio_sockets']]) {
    const v = s.sum(name);
    if (v !== null) out[t] = v;
  }
  return out;
}

/**
 * recoveries reads both kinds of recovery per outcome and reason: joins
 * from a position (rtbroker_recoveries_total, every transport's rooms) and
 * Socket.IO connection state recoveries (rtbroker_socketio_recoveries_total).
 * Keys: "join · recovered", "session · refused · unknown_session", ….
 */
export function recoveries(s) {
  const out = new Map();
  for (const [kind, name] of [['join', 'rtbroker_recoveries_total'], ['session', 'rtbroker_socketio_recoveries_total']]) {
    for (const x of s.byName.get(name) ?? []) {
      const k = [kind, x.labels.outcome, x.labels.reason].filter(Boolean).join(' · ');
      out.set(k, (out.get(k) ?? 0) + x.value);
    }
  }
  return out;
}

/**
 * figures works out what the page shows from the newest scrape cur, the
 * one before it (prev: rates and the charts' histograms over one interval)
 * and old, the oldest in the figures' window (the tiles' histograms).
 */
export function figures(prev, old, cur) {
  const conns = connectionsBy(cur);
  const win = (name) => (old && old !== cur ? histogramDelta(old, cur, name) : null);
  const step = (name) => (prev ? histogramDelta(prev, cur, name) : null);
  const batchWin = win('rtbroker_commit_batch_events');
  const rec = recoveries(cur);
  let recovered = null;
  let refused = null;
  for (const [k, v] of rec) {
    if (/ · refused/.test(k)) refused = (refused ?? 0) + v;
    else if (/ · recovered/.test(k)) recovered = (recovered ?? 0) + v;
  }
  // Socket.IO sockets by Engine.IO transport, when the server tells.
  const engines = cur.has('rtbroker_socketio_sessions') ? cur.by('rtbroker_socketio_sessions', 'engine') : null;
  const perTransport = {};
  const names = new Set([...Object.keys(conns), ...Object.keys(cur.by('rtbroker_deliveries_total', 'transport'))]);
  for (const name of [...names].sort()) {
    const lat = old && old !== cur ? histogramDelta(old, cur, 'rtbroker_publish_deliver_seconds', { transport: name }) : null;
    perTransport[name] = {
      open: conns[name] ?? 0,
      rate: rate(prev, cur, 'rtbroker_deliveries_total', { transport: name }),
      bytes: cur.has('rtbroker_delivered_bytes_total') ? rate(prev, cur, 'rtbroker_delivered_bytes_total', { transport: name }) : null,
      p99: lat?.count ? ms(lat, 0.99) : null,
    };
  }
  const batch = step('rtbroker_commit_batch_events');
  const deliverStep = step('rtbroker_publish_deliver_seconds');
  const deliverWin = win('rtbroker_publish_deliver_seconds');
  return {
    events: rate(prev, cur, 'rtbroker_events_published_total'),
    deliveries: rate(prev, cur, 'rtbroker_deliveries_total'),
    bytes: cur.has('rtbroker_delivered_bytes_total') ? rate(prev, cur, 'rtbroker_delivered_bytes_total') : null,
    commits: rate(prev, cur, 'rtbroker_commits_total'),
    replayed: cur.has('rtbroker_replayed_events_total') ? rate(prev, cur, 'rtbroker_replayed_events_total') : null,
    conns,
    connections: Object.values(conns).reduce((a, b) => a + b, 0),
    engines,
    head: cur.sum('rtbroker_log_head'),
    rooms: cur.sum('rtbroker_rooms'),
    subscriptions: cur.sum('rtbroker_subscriptions'),
    lagMax: cur.sum('rtbroker_subscriber_lag_max_events'),
    batchMean: batchWin?.count ? batchWin.sum / batchWin.count : null,
    batchCount: batchWin?.count ?? 0,
    fsyncP99: ms(win('rtbroker_commit_fsync_seconds'), 0.99),
    deliverP99: deliverWin?.count ? ms(deliverWin, 0.99) : null,
    deliverSamples: deliverWin?.count ?? 0,
    recovered,
    refused,
    rec,
    perTransport,
    chart: {
      batchMean: batch?.count ? batch.sum / batch.count : null,
      batchP95: prev ? quantile(batch, 0.95, { upper: true }) : null,
      fsyncP50: ms(step('rtbroker_commit_fsync_seconds'), 0.5),
      fsyncP99: ms(step('rtbroker_commit_fsync_seconds'), 0.99),
      commitP99: ms(step('rtbroker_commit_seconds'), 0.99),
      deliverP99: deliverStep?.count ? ms(deliverStep, 0.99) : null,
      bytesBy: Object.fromEntries(Object.entries(perTransport).filter(([, v]) => v.bytes !== null).map(([k, v]) => [k, v.bytes])),
    },
  };
}
