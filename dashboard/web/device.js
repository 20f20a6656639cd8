// The page of one device (device.html?id=<device>): identity and registry
// data, current values with their age, status history, open and past
// alerts, and hourly charts over 24 h, 7 days and 30 days read from the
// rollups (GET api/device/<id>/series), each with a CSV download of what
// it shows. Live values and status come over websocket protocol v2, channel
// device:<id> (lib/ws.js, docs/websocket.md). Text only through
// textContent, in Vietnamese or English from the one translation table
// (lib/strings.js, section "device"); everything is drawn again when the
// language changes.
import { $, el, nfc } from './lib/dom.js';
import * as i18n from './lib/i18n.js';
import { connect } from './lib/ws.js';

const t = i18n.t;
const TZ = 'Asia/Ho_Chi_Minh';
const PARTNERS = { viettel: 'Viettel', vnpt: 'VNPT' };

// sub translates a value the server sends (status, cause, severity, alert
// state, device type): an unknown one is shown as it came.
const sub = (prefix, k) => (k ? (i18n.has('device.' + prefix + '.' + k) ? t('device.' + prefix + '.' + k) : k) : '—');

// ---- time: frames and answers carry server time --------------------------
let offset = 0;
const now = () => Date.now() + offset;
const fmtFull = () => new Intl.DateTimeFormat(i18n.locale(), { timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const fmtShort = () => new Intl.DateTimeFormat(i18n.locale(), { timeZone: TZ, day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const fmtHour = () => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const fmtDay = () => new Intl.DateTimeFormat(i18n.locale(), { timeZone: TZ, day: '2-digit', month: '2-digit' });
const when = (ms) => (ms > 0 ? fmtFull().format(ms) : '—');
function ago(ms) {
  if (!(ms > 0)) return '—';
  const s = Math.max(0, Math.round((now() - ms) / 1000));
  if (s < 90) return t('device.ago.s', { n: s });
  if (s < 5400) return t('device.ago.min', { n: Math.round(s / 60) });
  if (s < 2 * 86400) return t('device.ago.h', { n: Math.round(s / 3600) });
  return t('device.ago.d', { n: Math.round(s / 86400) });
}
const fmtValue = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)) : '—');

// ---- state -----------------------------------------------------------------
const id = new URLSearchParams(location.search).get('id') || '';
const api = (path) => 'api/device/' + encodeURIComponent(id) + path;
let device = null;          // GET api/device/<id>
const values = new Map();   // metric -> {v, s, b, u, t}
let status = null;          // {status, cause, at, last_seen}
let range = '24h';
const charts = new Map();   // metric -> {root, plot, host, points: [[ms, n, min, mean, max, last]], newest, unit}
let error = null;           // () => the message shown, in the current language
let conn = 'connecting';    // connecting | live | retry | forbidden

function showError(msg) {
  error = msg;
  renderError();
}

function renderError() {
  $('error').textContent = error ? error() : '';
  $('error').hidden = !error;
}

function renderConn() {
  $('conn').className = 'conn ' + (conn === 'forbidden' || conn === 'retry' ? 'reconnecting' : conn);
  $('conn').textContent = t('device.conn.' + conn);
}

// ---- identity, values, history, alerts -----------------------------------
function renderIdentity() {
  const g = device.registry || {};
  document.title = t('device.doc.title', { name: nfc(g.name || id) });
  $('title').textContent = nfc(g.name || id);
  $('subtitle').textContent = id + ' · ' + nfc(g.ward || '');
  const dl = $('registry');
  dl.textContent = '';
  const row = (label, v) => { dl.append(el('dt', '', label), el('dd', '', v)); };
  row(t('device.reg.id'), id);
  row(t('device.reg.name'), nfc(g.name || '—'));
  row(t('device.reg.partner'), PARTNERS[g.p] || g.p || '—');
  row(t('device.reg.type'), sub('type', g.type));
  row(t('device.reg.ward'), nfc(g.ward || '—'));
  row(t('device.reg.position'), typeof g.lat === 'number' ? g.lat.toFixed(4) + ', ' + g.lon.toFixed(4) : '—');
  row(t('device.reg.interval'), g.iv ? t('device.reg.seconds', { n: g.iv }) : '—');
  row(t('device.reg.lastSeen'), status && status.last_seen ? when(status.last_seen) + ' (' + ago(status.last_seen) + ')' : '—');
  renderStatus();
}

function renderStatus() {
  const s = (status && status.status) || 'unknown';
  $('status').className = 'status ' + s;
  $('status').textContent = sub('status', s) + (status && status.cause ? ' · ' + sub('cause', status.cause) : '');
}

function renderValues() {
  const body = $('values');
  body.textContent = '';
  const names = [...values.keys()].sort();
  if (!names.length) {
    const tr = el('tr', 'none');
    const td = el('td', '', t('device.noValues'));
    td.colSpan = 4;
    tr.append(td);
    body.append(tr);
    return;
  }
  const iv = ((device && device.registry && device.registry.iv) || 60) * 1000;
  for (const name of names) {
    const m = values.get(name);
    const tr = el('tr');
    tr.dataset.metric = name;
    let v = '—';
    if (typeof m.v === 'number') v = fmtValue(m.v) + (m.u ? ' ' + m.u : '');
    else if (typeof m.b === 'boolean') v = m.b ? '✔' : '✘';
    else if (m.s) v = nfc(m.s);
    tr.classList.toggle('old', now() - m.t > 3 * iv);
    tr.append(el('td', '', name), el('td', 'v', v), el('td', '', when(m.t)), el('td', 'age', ago(m.t)));
    body.append(tr);
  }
}

function renderHistory() {
  const list = $('status-history');
  list.textContent = '';
  const h = device.status_history || [];
  if (!h.length) { list.append(el('li', 'none', t('device.noStatus'))); return; }
  for (const c of h) {
    const li = el('li');
    const what = el('span', 'what');
    what.append(el('b', 's-' + c.status, sub('status', c.status)));
    if (c.previous) what.append(document.createTextNode('← ' + sub('status', c.previous)));
    li.append(el('span', 'when', when(c.at_ms)), what);
    if (c.cause) li.append(el('span', 'detail', sub('cause', c.cause)));
    list.append(li);
  }
}

function renderAlerts() {
  const list = $('alerts');
  list.textContent = '';
  if (!device.alerts) { list.append(el('li', 'none', t('device.alertsHidden'))); return; }
  if (!device.alerts.length) { list.append(el('li', 'none', t('device.noAlerts'))); return; }
  for (const a of device.alerts) {
    const li = el('li', a.state === 'resolved' ? 'resolved' : '');
    li.dataset.alert = a.alert_id;
    const what = el('span', 'what');
    what.append(el('b', 'sev-' + a.severity, sub('sev', a.severity)), document.createTextNode(nfc(a.message)));
    let d = sub('state', a.state) + ' · ' + t('device.opened', { time: when(a.opened_ms) });
    if (a.acked && a.operator) d += ' · ' + t('device.ackedBy', { name: nfc(a.operator) });
    if (a.state === 'resolved') d += ' · ' + t('device.closed', { time: when(a.at_ms) });
    li.append(el('span', 'when', when(a.opened_ms)), what, el('span', 'detail', d));
    list.append(li);
  }
}

// ---- charts (uPlot, hourly rollups) --------------------------------------
function chartFor(metric, unit) {
  let c = charts.get(metric);
  if (c) return c;
  const root = el('div', 'chart');
  root.dataset.metric = metric;
  const head = el('div', 'chart-head');
  const title = el('h3', '', metric + (unit ? ' (' + unit + ')' : ''));
  const csv = el('a', 'csv', t('device.csv'));
  csv.setAttribute('download', '');
  head.append(title, csv);
  const host = el('div', 'plot');
  const empty = el('div', 'empty', t('device.noData'));
  empty.hidden = true;
  root.append(head, host, empty);
  $('charts').append(root);
  c = { root, host, empty, csv, title, plot: null, points: [], newest: 0, unit };
  charts.set(metric, c);
  return c;
}

function makePlot(c) {
  if (c.plot) c.plot.destroy();
  const f = fmtShort();
  const tick = range === '24h' ? fmtHour() : fmtDay(); // axis labels: hours over a day, dates over a week or a month
  const axis = { stroke: '#93a6c4', grid: { stroke: '#1a2a44', width: 1 }, ticks: { stroke: '#1a2a44' } };
  c.plot = new uPlot({
    width: Math.max(300, c.host.clientWidth), height: 220,
    scales: { x: { time: true } },
    axes: [{ ...axis, space: 60, values: (u, vals) => vals.map((v) => tick.format(v * 1000)) }, { ...axis, size: 60 }],
    series: [
      { label: t('device.time'), value: (u, v) => (v == null ? '—' : f.format(v * 1000)) },
      { label: t('device.mean'), stroke: '#38bdf8', width: 2, fill: 'rgba(56,189,248,0.10)', points: { show: false } },
      { label: t('device.min'), stroke: '#22c55e', width: 1, dash: [4, 4], points: { show: false } },
      { label: t('device.max'), stroke: '#f97316', width: 1, dash: [4, 4], points: { show: false } },
    ],
  }, chartData(c), c.host);
}

function chartData(c) {
  const p = c.points;
  return [p.map((x) => x[0] / 1000), p.map((x) => x[3]), p.map((x) => x[2]), p.map((x) => x[4])];
}

function drawChart(c) {
  c.empty.hidden = c.points.length > 0;
  c.host.hidden = !c.points.length;
  if (!c.points.length) return;
  if (!c.plot) makePlot(c);
  else c.plot.setData(chartData(c));
}

async function loadChart(metric, unit) {
  const c = chartFor(metric, unit);
  const q = '?metric=' + encodeURIComponent(metric) + '&range=' + range;
  c.csv.href = api('/series' + q + '&format=csv');
  c.title.textContent = metric + (unit ? ' (' + unit + ')' : '');
  const r = await fetch(api('/series' + q), { credentials: 'same-origin', cache: 'no-store' });
  if (!r.ok) throw new Error('series ' + metric + ': HTTP ' + r.status);
  const s = await r.json();
  if (typeof s.server_ms === 'number') offset = s.server_ms - Date.now();
  c.points = s.points.map((p) => p.slice());
  c.newest = s.newest_ms || 0;
  if (c.plot) { c.plot.destroy(); c.plot = null; }
  drawChart(c);
}

let chartsLoading = null;
function loadCharts() {
  const metrics = device.metrics || [];
  for (const [m, c] of charts) if (!metrics.some((x) => x.metric === m)) { if (c.plot) c.plot.destroy(); c.root.remove(); charts.delete(m); }
  chartsLoading = Promise.all(metrics.map((m) => loadChart(m.metric, m.unit))).catch((e) => { console.warn(e); showError(() => t('device.loadFailed')); });
  return chartsLoading;
}

// A live reading newer than what the chart counted goes into its hour.
function foldLive(metric, m) {
  const c = charts.get(metric);
  if (!c || typeof m.v !== 'number' || !(m.t > c.newest)) return;
  c.newest = m.t;
  const hour = m.t - (m.t % 3600000);
  let p = c.points[c.points.length - 1];
  if (!p || p[0] < hour) { p = [hour, 0, m.v, m.v, m.v, m.v]; c.points.push(p); }
  else if (p[0] !== hour) return; // older than the newest hour: the rollups will have it
  const sum = p[3] * p[1] + m.v;
  p[1] += 1;
  p[2] = Math.min(p[2], m.v);
  p[4] = Math.max(p[4], m.v);
  p[3] = sum / p[1];
  p[5] = m.v;
  drawChart(c);
}

// The language changed: everything JavaScript wrote is written again.
function relabel() {
  renderError();
  renderConn();
  if (!device) return;
  renderIdentity();
  renderValues();
  renderHistory();
  renderAlerts();
  for (const c of charts.values()) {
    c.csv.textContent = t('device.csv');
    c.empty.textContent = t('device.noData');
    if (c.plot) { c.plot.destroy(); c.plot = null; drawChart(c); } // legends and date axes
  }
}

// ---- websocket v2 (lib/ws.js): channel device:<id> -----------------------------
const ch = 'device:' + id;

function applyKeys(set, del) {
  for (const k of del || []) if (k.startsWith('m/')) values.delete(k.slice(2));
  for (const k in set || {}) {
    const v = set[k];
    if (k === 'status') { status = v; renderStatus(); }
    else if (k.startsWith('m/') && v) { values.set(k.slice(2), v); foldLive(k.slice(2), v); }
  }
  renderValues();
  if (device) renderIdentity();
}

function live() {
  connect({
    path: 'ws',
    channels: [ch],
    frame: (m) => {
      if (typeof m.server_ms === 'number') offset = m.server_ms - Date.now();
      if (m.type === 'error' && m.ch === ch) { conn = 'forbidden'; renderConn(); }
    },
    status: (s) => { if (conn !== 'forbidden' || s === 'live') { conn = s; renderConn(); } },
    snapshot: (c, set) => { values.clear(); applyKeys(set, []); },
    delta: (c, set, del) => applyKeys(set, del),
  });
}

// ---- start -------------------------------------------------------------------
for (const b of document.querySelectorAll('#ranges button')) {
  b.addEventListener('click', () => {
    range = b.dataset.range;
    for (const o of document.querySelectorAll('#ranges button')) o.classList.toggle('on', o === b);
    if (device) loadCharts();
  });
}
setInterval(() => { for (const e of document.querySelectorAll('#values td.age')) { const m = values.get(e.parentElement.dataset.metric); if (m) e.textContent = ago(m.t); } }, 1000);

// What the browser tests read (dashboard/devicepage_browser_test.go).
window.__device = {
  ready: false,
  charts: () => [...charts.entries()].map(([m, c]) => ({ metric: m, points: c.points.length, drawn: !!c.plot && !c.host.hidden, csv: c.csv.href })),
  range: () => range,
  lastPoint: (m) => { const c = charts.get(m); return c && c.points.length ? c.points[c.points.length - 1] : null; },
};

async function start() {
  i18n.bindToggle($('lang'));
  i18n.onChange(relabel);
  i18n.start();
  renderConn();
  if (!id) { showError(() => t('device.noDevice')); return; }
  let r;
  try {
    r = await fetch(api(''), { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) { showError(() => t('device.loadFailed')); return; }
  if (r.status === 404) { showError(() => t('device.unknownDevice', { id })); return; }
  if (r.status === 401) { location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search)); return; }
  if (!r.ok) { showError(() => t('device.loadFailed')); return; }
  device = await r.json();
  if (typeof device.server_ms === 'number') offset = device.server_ms - Date.now();
  status = { status: device.live.status, cause: device.live.cause, at: device.live.since, last_seen: device.live.last };
  for (const [k, v] of Object.entries(device.live.m || {})) values.set(k, v);
  if (device.history_error) showError(() => t('device.historyError'));
  renderIdentity();
  renderValues();
  renderHistory();
  renderAlerts();
  await loadCharts();
  window.__device.ready = true;
  live();
}
start();
