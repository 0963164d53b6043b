// A live time chart of the dashboard: a few named series over the last
// KEEP scrapes, drawn with uPlot (vendor/, from npm, loaded as a classic
// script that defines globalThis.uPlot). Series may appear later (a
// transport's first connection): the chart is rebuilt with the new one.

import { COLORS } from '../transports/chart.js';

// A transport has the same colour on every chart.
const BY_NAME = { longpoll: COLORS[0], sse: COLORS[1], socketio: COLORS[2], 'socketio websocket': COLORS[2], 'socketio polling': COLORS[4] };
const colorFor = (name, i) => BY_NAME[name] ?? COLORS[i % COLORS.length];

const KEEP = 180; // points: three minutes at one scrape a second
const HEIGHT = 200;

/** TimeChart plots values per series name against time (seconds). */
export class TimeChart {
  /** unit formats a value for the legend, e.g. (v) => `${v} ms`. */
  constructor(container, { unit = (v) => String(v), min = 0, log = false } = {}) {
    this.container = container;
    this.unit = unit;
    this.min = min;
    this.log = log; // a log10 y axis (latencies: the tail and the median both readable)
    this.names = [];
    this.xs = [];
    this.cols = new Map(); // name → values aligned with xs
    this.plot = null;
    new ResizeObserver(() => this.plot?.setSize({ width: this.width(), height: HEIGHT })).observe(container);
  }

  width() { return Math.max(200, this.container.clientWidth); }

  /** add appends one point in time: values maps series names to numbers (null: no value). */
  add(t, values) {
    let grew = false;
    for (const name of Object.keys(values)) {
      if (!this.cols.has(name)) {
        this.cols.set(name, this.xs.map(() => null));
        this.names.push(name);
        grew = true;
      }
    }
    this.xs.push(t);
    for (const [name, col] of this.cols) col.push(values[name] ?? null);
    if (this.xs.length > KEEP) {
      this.xs.shift();
      for (const col of this.cols.values()) col.shift();
    }
    if (grew || !this.plot) this.build();
    else this.plot.setData(this.data());
  }

  data() { return [this.xs, ...this.names.map((n) => this.cols.get(n))]; }

  build() {
    this.plot?.destroy();
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue('--text-2').trim() || '#475569';
    const grid = css.getPropertyValue('--border').trim() || '#e2e8f0';
    const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
    const unit = this.unit;
    this.plot = new globalThis.uPlot({
      width: this.width(),
      height: HEIGHT,
      // At least 20 s, so the time axis keeps whole seconds from the start.
      scales: { x: { range: (u, lo, hi) => [Math.min(lo, hi - 20), hi] }, y: this.log ? { distr: 3 } : { range: (u, lo, hi) => [Math.min(this.min, lo), hi > 0 ? hi * 1.1 : 1] } },
      // On a log axis only the powers of ten are labelled.
      axes: [axis, { ...axis, size: 64, values: (u, vals) => vals.map((v) => (v === null || (this.log && Math.abs(Math.log10(v) % 1) > 1e-9) ? '' : unit(v))) }],
      series: [
        { label: 'time' },
        ...this.names.map((name, i) => ({
          label: name, stroke: colorFor(name, i), width: 1.5, spanGaps: true,
          value: (u, v) => (v === null || v === undefined ? '–' : unit(v)),
        })),
      ],
      legend: { live: true },
    }, this.data(), this.container);
  }
}
