// The trends panel: four uPlot charts of the last HISTORY_HOURS, one point
// per minute (average and maximum). History comes from ClickHouse
// (/api/history), the live minutes from the wall channel's t/ keys; a chart
// is redrawn only when one of its points changed. uPlot is the vendored IIFE
// (vendor/uPlot.iife.min.js, loaded before the modules).
import { $ } from '../lib/dom.js';
import { meta, state } from './store.js';
import { hm, now } from './time.js';

export const HISTORY_HOURS = 6;
export const SERIES = ['aqi', 'water', 'rain', 'traffic'];
const charts = {}; // id -> {plot, points: Map(ms -> [avg, max]), dirty}

function makeChart(id) {
  const host = document.querySelector('#chart-' + id + ' .plot');
  const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
  const axis = { stroke: '#93a6c4', grid: { stroke: '#1a2a44', width: 1 }, ticks: { stroke: '#1a2a44' }, font: Math.round(0.55 * rem) + 'px sans-serif' };
  const opts = {
    width: host.clientWidth, height: Math.max(60, host.clientHeight), legend: { show: false }, cursor: { show: false },
    scales: { x: { time: true } },
    axes: [
      { ...axis, size: 1.3 * rem, values: (u, vals) => vals.map((v) => hm(v * 1000)) },
      { ...axis, size: 2.2 * rem },
    ],
    series: [{}, { stroke: '#38bdf8', width: 2, fill: 'rgba(56,189,248,0.12)', points: { show: false } }, { stroke: '#f97316', width: 1.5, dash: [6, 4], points: { show: false } }],
  };
  if (id === 'water') {
    opts.hooks = { draw: [(u) => {
      const ctx = u.ctx;
      ctx.save();
      (meta.water_stages || []).forEach((s, i) => {
        const y = u.valToPos(s, 'y', true);
        if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
        ctx.strokeStyle = ['#facc15', '#f97316', '#ef4444'][i] || '#ef4444';
        ctx.setLineDash([4, 4]);
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      });
      ctx.restore();
    }] };
    opts.scales.y = { range: (u, lo, hi) => [0, Math.max(hi || 0, (meta.water_stages || [3])[(meta.water_stages || [3]).length - 1] || 3) * 1.1] };
  }
  const plot = new globalThis.uPlot(opts, [[], [], []], host);
  charts[id] = { plot, points: new Map(), dirty: true };
}

function chartData(c) {
  const cut = now() - HISTORY_HOURS * 3600000;
  for (const t of c.points.keys()) if (t < cut) c.points.delete(t); // bounded: the window only
  const xs = [...c.points.keys()].sort((a, b) => a - b);
  return [xs.map((t) => t / 1000), xs.map((t) => c.points.get(t)[0]), xs.map((t) => c.points.get(t)[1])];
}

// History of the charts from ClickHouse. On a fresh start the backfill is
// still being stored when the page loads: a series whose history does not
// yet reach back an hour, or not yet up to the live minutes, is asked
// again (every 5 s, for five minutes).
const historyTries = {};
export function loadHistory() { for (const id of SERIES) { historyTries[id] = 0; loadSeries(id); } }
function loadSeries(id) {
  fetch('api/history?metric=' + id + '&hours=' + HISTORY_HOURS, { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : null))
    .then((h) => {
      if (!h || !charts[id]) return;
      const c = charts[id];
      const liveFrom = liveStart(id);
      // One point per minute: history up to where the live minutes begin.
      for (const [t, avg, mx] of h.points) if (liveFrom === null || t < liveFrom) c.points.set(t, [avg, mx]);
      c.dirty = true;
      draw();
      // Short: no point an hour old yet, or a gap up to the live minutes (the backfill was still being stored).
      const live = liveFrom === null ? now() - (meta.trend_window_ms || 900000) : liveFrom;
      const short = !h.points.length || h.points[0][0] > now() - 3600000 || h.points[h.points.length - 1][0] < live - 180000;
      if (short && ++historyTries[id] < 60) setTimeout(() => loadSeries(id), 5000);
    })
    .catch(() => {});
}

function liveStart(id) {
  let first = null;
  for (const k of state.keys()) {
    if (!k.startsWith('t/' + id + '/')) continue;
    const t = +k.slice(k.lastIndexOf('/') + 1);
    if (first === null || t < first) first = t;
  }
  return first;
}

function draw() {
  for (const id of SERIES) {
    const c = charts[id];
    if (c && c.dirty) { c.plot.setData(chartData(c)); c.dirty = false; }
  }
}

export function render(ctx) {
  if (!ctx.changed.has('t')) return;
  for (const [k, b] of state) {
    if (!k.startsWith('t/')) continue;
    const parts = k.split('/');
    const c = charts[parts[1]];
    if (!c) continue;
    const t = +parts[2], prev = c.points.get(t);
    if (!prev || prev[0] !== b.avg || prev[1] !== b.max) { c.points.set(t, [b.avg, b.max]); c.dirty = true; }
  }
  draw();
}

function sizeCharts() {
  for (const id of SERIES) {
    const c = charts[id];
    const host = document.querySelector('#chart-' + id + ' .plot');
    if (c) c.plot.setSize({ width: host.clientWidth, height: Math.max(60, host.clientHeight) });
  }
}

export function start() {
  for (const id of SERIES) makeChart(id);
  new ResizeObserver(sizeCharts).observe($('wall'));
}

// points lists a chart's minutes (the browser tests read it).
export const points = (id) => (charts[id] ? [...charts[id].points.keys()].sort((a, b) => a - b) : []);
