// prom-parse.mjs runs the dashboard's Prometheus text reader
// (web/static/dashboard/prom.js, the browser's own module) in Node on the
// text given on stdin and prints what it read, for TestDashboardPromParser:
//
//   node prom-parse.mjs < metrics.txt
//
// One JSON line: {"samples": [{name, labels, value}], "skipped",
// "quantiles": {"<histogram> <q>": value}} with each value as a string
// (so NaN and ±Inf survive JSON); quantiles are of every histogram in the
// text, at 0.1, 0.5 and 0.99, interpolated and ("… upper") as the bucket's
// upper bound.
import { Scrape, parse, quantile } from '../../../web/static/dashboard/prom.js';

let text = '';
for await (const chunk of process.stdin) text += chunk;
const { samples, skipped, types } = parse(text);
const scrape = new Scrape(text, 0);
const quantiles = {};
for (const [name, type] of Object.entries(types)) {
  if (type !== 'histogram') continue;
  const h = scrape.histogram(name);
  for (const q of [0.1, 0.5, 0.99]) {
    quantiles[`${name} ${q}`] = String(quantile(h, q));
    quantiles[`${name} ${q} upper`] = String(quantile(h, q, { upper: true }));
  }
}
console.log(JSON.stringify({ samples: samples.map((s) => ({ ...s, value: String(s.value) })), skipped, quantiles }));
