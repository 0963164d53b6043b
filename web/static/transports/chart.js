// The live latency chart: publish → receive time per event (x: the
// event's offset) for each transport, drawn with uPlot (vendor/, from npm,
// loaded as a classic script that defines globalThis.uPlot).

const KEEP = 200; // events shown
// Colours readable on the light and the dark background.
export const COLORS = ['#4f46e5', '#0891b2', '#d97706', '#16a34a', '#db2777'];

/** LatencyChart draws one series per transport; add() is cheap, drawing is throttled. */
export class LatencyChart {
  constructor(container, transports) {
    this.container = container;
    this.ids = transports.map((T) => T.id);
    this.points = new Map(this.ids.map((id) => [id, new Map()]));
    this.xs = new Set();
    const css = getComputedStyle(document.documentElement);
    const ink = css.getPropertyValue('--text-2').trim() || '#475569';
    const grid = css.getPropertyValue('--border').trim() || '#e2e8f0';
    const axis = (label) => ({ label, stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } });
    this.plot = new globalThis.uPlot({
      width: this.width(),
      height: 220,
      scales: { x: { time: false } },
      axes: [axis('event offset'), { ...axis('ms'), size: 56 }],
      series: [
        { label: 'offset' },
        ...transports.map((T, i) => ({
          label: T.title, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true,
          points: { show: true, size: 4 },
          value: (u, v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} ms`),
        })),
      ],
      legend: { live: true },
    }, [[], ...this.ids.map(() => [])], container);
    new ResizeObserver(() => this.plot.setSize({ width: this.width(), height: 220 })).observe(container);
  }

  width() { return Math.max(240, this.container.clientWidth); }

  /** add records one live event's latency on one transport. */
  add(id, offset, ms) {
    this.points.get(id)?.set(offset, ms);
    this.xs.add(offset);
    if (!this.timer) this.timer = setTimeout(() => { this.timer = 0; this.draw(); }, 200);
  }

  /** remove forgets a point (an event found to be replayed after all). */
  remove(id, offset) {
    this.points.get(id)?.delete(offset);
    if (!this.timer) this.timer = setTimeout(() => { this.timer = 0; this.draw(); }, 200);
  }

  draw() {
    let xs = [...this.xs].sort((a, b) => a - b);
    if (xs.length > KEEP) {
      for (const x of xs.slice(0, xs.length - KEEP)) {
        this.xs.delete(x);
        for (const m of this.points.values()) m.delete(x);
      }
      xs = xs.slice(-KEEP);
    }
    this.plot.setData([xs, ...this.ids.map((id) => xs.map((x) => this.points.get(id).get(x) ?? null))]);
  }
}
