// The page of one device (device.html?id=<device>): identity and registry
// data, current values with their age, status history, open and past
// alerts, and hourly charts over 24 h, 7 days and 30 days read from the
// rollups (GET api/device/<id>/series), each with a CSV download of what
// it shows. Live values and status come over websocket protocol v2, channel
// device:<id> (docs/websocket.md). Text only through textContent.
//
// STRINGS is this page's own vi/en table, to be merged into the shared
// i18n table of the front end.

const STRINGS = {
  vi: {
    back: '← Màn hình điều hành', identity: 'Thông tin thiết bị', current: 'Giá trị hiện tại', charts: 'Biểu đồ',
    chartHint: 'Trung bình, thấp nhất và cao nhất mỗi giờ (số liệu tổng hợp theo giờ)',
    statusHistory: 'Lịch sử trạng thái', alerts: 'Cảnh báo', metric: 'Chỉ số', value: 'Giá trị', observed: 'Thời điểm đo', age: 'Cách đây',
    id: 'Mã thiết bị', name: 'Tên', partner: 'Đối tác', type: 'Loại', ward: 'Phường, xã', position: 'Vị trí', interval: 'Chu kỳ báo cáo',
    lastSeen: 'Lần nhận cuối', seconds: 'giây',
    r24h: '24 giờ', r7d: '7 ngày', r30d: '30 ngày', csv: 'Tải CSV', mean: 'Trung bình', min: 'Thấp nhất', max: 'Cao nhất',
    noData: 'Chưa có số liệu trong khoảng này', noValues: 'Chưa nhận được giá trị nào', noStatus: 'Không có thay đổi trạng thái trong 30 ngày',
    noAlerts: 'Không có cảnh báo trong 90 ngày', alertsHidden: 'Tài khoản này không được xem cảnh báo',
    live: 'Trực tuyến', connecting: 'Đang kết nối…', reconnecting: 'Mất kết nối · đang kết nối lại', liveForbidden: 'Không có cập nhật trực tiếp',
    noDevice: 'Thiếu mã thiết bị trong địa chỉ (device.html?id=…)', unknownDevice: 'Không có thiết bị này trong danh mục',
    loadFailed: 'Không tải được dữ liệu; thử lại sau', historyError: 'Không đọc được lịch sử từ ClickHouse',
    secAgo: ' giây trước', minAgo: ' phút trước', hourAgo: ' giờ trước', dayAgo: ' ngày trước',
    status: { online: 'Hoạt động', stale: 'Chậm dữ liệu', offline: 'Mất kết nối', unknown: 'Chưa rõ' },
    causes: { reading: 'có số liệu mới', late: 'quá chu kỳ báo cáo', silent: 'không báo cáo', feed_silent: 'nguồn đối tác im lặng', start: 'khởi động giám sát' },
    severity: { warning: 'Cảnh báo', alert: 'Báo động', critical: 'Khẩn cấp' },
    state: { open: 'Đang mở', escalated: 'Nâng cấp', acknowledged: 'Đã xác nhận', resolved: 'Đã xử lý' },
    ackedBy: 'xác nhận bởi ', opened: 'mở ', closed: 'kết thúc ',
    types: { air_quality: 'Quan trắc không khí', water_level: 'Mực nước', rainfall: 'Đo mưa', traffic: 'Giao thông', streetlight: 'Chiếu sáng' },
  },
  en: {
    back: '← Operations wall', identity: 'Device', current: 'Current values', charts: 'Charts',
    chartHint: 'Hourly mean, minimum and maximum (from the hourly rollups)',
    statusHistory: 'Status history', alerts: 'Alerts', metric: 'Metric', value: 'Value', observed: 'Observed', age: 'Age',
    id: 'Device id', name: 'Name', partner: 'Partner', type: 'Type', ward: 'Ward', position: 'Position', interval: 'Reporting interval',
    lastSeen: 'Last received', seconds: 's',
    r24h: '24 hours', r7d: '7 days', r30d: '30 days', csv: 'Download CSV', mean: 'Mean', min: 'Min', max: 'Max',
    noData: 'No data in this range', noValues: 'No value received yet', noStatus: 'No status change in 30 days',
    noAlerts: 'No alert in 90 days', alertsHidden: 'This account may not see alerts',
    live: 'Live', connecting: 'Connecting…', reconnecting: 'Disconnected · reconnecting', liveForbidden: 'No live updates',
    noDevice: 'No device id in the address (device.html?id=…)', unknownDevice: 'No such device in the registry',
    loadFailed: 'Loading failed; try again later', historyError: 'The history could not be read from ClickHouse',
    secAgo: ' s ago', minAgo: ' min ago', hourAgo: ' h ago', dayAgo: ' days ago',
    status: { online: 'Online', stale: 'Stale', offline: 'Offline', unknown: 'Unknown' },
    causes: { reading: 'new reading', late: 'past its reporting interval', silent: 'not reporting', feed_silent: 'partner feed silent', start: 'monitor start' },
    severity: { warning: 'Warning', alert: 'Alert', critical: 'Critical' },
    state: { open: 'Open', escalated: 'Escalated', acknowledged: 'Acknowledged', resolved: 'Resolved' },
    ackedBy: 'acknowledged by ', opened: 'opened ', closed: 'closed ',
    types: { air_quality: 'Air quality', water_level: 'Water level', rainfall: 'Rainfall', traffic: 'Traffic', streetlight: 'Street lighting' },
  },
};

const TZ = 'Asia/Ho_Chi_Minh';
const PARTNERS = { viettel: 'Viettel', vnpt: 'VNPT' };
const RECONNECT_MAX_MS = 30000;

let lang = localStorage.getItem('ioc-lang') === 'en' ? 'en' : 'vi';
const t = (k) => STRINGS[lang][k] ?? STRINGS.vi[k] ?? k;
const sub = (group, k) => (STRINGS[lang][group] || {})[k] || k || '—';

const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
const nfc = (s) => (typeof s === 'string' ? s.normalize('NFC') : '');

// ---- time: frames and answers carry server time --------------------------
let offset = 0;
const now = () => Date.now() + offset;
const fmtFull = () => new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const fmtShort = () => new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: TZ, day: '2-digit', month: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const fmtHour = () => new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const fmtDay = () => new Intl.DateTimeFormat(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: TZ, day: '2-digit', month: '2-digit' });
const when = (ms) => (ms > 0 ? fmtFull().format(ms) : '—');
function ago(ms) {
  if (!(ms > 0)) return '—';
  const s = Math.max(0, Math.round((now() - ms) / 1000));
  if (s < 90) return s + t('secAgo');
  if (s < 5400) return Math.round(s / 60) + t('minAgo');
  if (s < 2 * 86400) return Math.round(s / 3600) + t('hourAgo');
  return Math.round(s / 86400) + t('dayAgo');
}
const fmtValue = (v) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2)) : '—');

// ---- state -----------------------------------------------------------------
const id = new URLSearchParams(location.search).get('id') || '';
const api = (path) => 'api/device/' + encodeURIComponent(id) + path;
let device = null;          // GET api/device/<id>
const values = new Map();   // metric -> {v, s, b, u, t}
let status = null;          // {status, cause, at, last_seen}
let range = '24h';
const charts = new Map();   // metric -> {root, plot, host, points: [[ms, n, min, mean, max, last]], newest, unit, sum}

function showError(msg) {
  $('error').textContent = msg;
  $('error').hidden = !msg;
}

function applyLang() {
  document.documentElement.lang = lang;
  for (const e of document.querySelectorAll('[data-i18n]')) e.textContent = t(e.dataset.i18n);
  for (const b of document.querySelectorAll('#ranges button')) b.textContent = t('r' + b.dataset.range);
  $('lang').textContent = lang === 'vi' ? 'EN' : 'VI';
  $('lang').lang = lang === 'vi' ? 'en' : 'vi';
  if (device) { renderIdentity(); renderHistory(); renderAlerts(); renderValues(); loadCharts(); }
}

// ---- identity, values, history, alerts -----------------------------------
function renderIdentity() {
  const g = device.registry || {};
  document.title = nfc(g.name || id) + ' · IOC Sơn La';
  $('title').textContent = nfc(g.name || id);
  $('subtitle').textContent = id + ' · ' + nfc(g.ward || '');
  const dl = $('registry');
  dl.textContent = '';
  const row = (k, v) => { dl.append(el('dt', '', t(k)), el('dd', '', v)); };
  row('id', id);
  row('name', nfc(g.name || '—'));
  row('partner', PARTNERS[g.p] || g.p || '—');
  row('type', sub('types', g.type));
  row('ward', nfc(g.ward || '—'));
  row('position', typeof g.lat === 'number' ? g.lat.toFixed(4) + ', ' + g.lon.toFixed(4) : '—');
  row('interval', g.iv ? g.iv + ' ' + t('seconds') : '—');
  row('lastSeen', status && status.last_seen ? when(status.last_seen) + ' (' + ago(status.last_seen) + ')' : '—');
  renderStatus();
}

function renderStatus() {
  const s = (status && status.status) || 'unknown';
  $('status').className = 'status ' + s;
  $('status').textContent = sub('status', s) + (status && status.cause ? ' · ' + sub('causes', status.cause) : '');
}

function renderValues() {
  const body = $('values');
  body.textContent = '';
  const names = [...values.keys()].sort();
  if (!names.length) {
    const tr = el('tr', 'none');
    const td = el('td', '', t('noValues'));
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
  if (!h.length) { list.append(el('li', 'none', t('noStatus'))); return; }
  for (const c of h) {
    const li = el('li');
    const what = el('span', 'what');
    what.append(el('b', 's-' + c.status, sub('status', c.status)));
    if (c.previous) what.append(document.createTextNode('← ' + sub('status', c.previous)));
    li.append(el('span', 'when', when(c.at_ms)), what);
    if (c.cause) li.append(el('span', 'detail', sub('causes', c.cause)));
    list.append(li);
  }
}

function renderAlerts() {
  const list = $('alerts');
  list.textContent = '';
  if (!device.alerts) { list.append(el('li', 'none', t('alertsHidden'))); return; }
  if (!device.alerts.length) { list.append(el('li', 'none', t('noAlerts'))); return; }
  for (const a of device.alerts) {
    const li = el('li', a.state === 'resolved' ? 'resolved' : '');
    li.dataset.alert = a.alert_id;
    const what = el('span', 'what');
    what.append(el('b', 'sev-' + a.severity, sub('severity', a.severity)), document.createTextNode(nfc(a.message)));
    let d = sub('state', a.state) + ' · ' + t('opened') + when(a.opened_ms);
    if (a.acked && a.operator) d += ' · ' + t('ackedBy') + nfc(a.operator);
    if (a.state === 'resolved') d += ' · ' + t('closed') + when(a.at_ms);
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
  const csv = el('a', 'csv', t('csv'));
  csv.setAttribute('download', '');
  head.append(title, csv);
  const host = el('div', 'plot');
  const empty = el('div', 'empty', t('noData'));
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
      { value: (u, v) => (v == null ? '—' : f.format(v * 1000)) },
      { label: t('mean'), stroke: '#38bdf8', width: 2, fill: 'rgba(56,189,248,0.10)', points: { show: false } },
      { label: t('min'), stroke: '#22c55e', width: 1, dash: [4, 4], points: { show: false } },
      { label: t('max'), stroke: '#f97316', width: 1, dash: [4, 4], points: { show: false } },
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
  chartsLoading = Promise.all(metrics.map((m) => loadChart(m.metric, m.unit))).catch((e) => { console.warn(e); showError(t('loadFailed')); });
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

// ---- websocket v2: channel device:<id> -------------------------------------
const ch = 'device:' + id;
let ws = null, attempt = 0;
const chan = { epoch: '', seq: 0, parts: null };

function setConn(cls, key) {
  $('conn').className = 'conn ' + cls;
  $('conn').textContent = t(key);
}

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

function connect() {
  const url = new URL('ws', location.href);
  url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('v', '2');
  url.searchParams.set('channels', ch);
  let sock;
  try { sock = new WebSocket(url.href); } catch (e) { retry(); return; }
  ws = sock;
  sock.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch (e) { return; }
    onMessage(sock, m);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    if (ev.code === 4401 || ev.code === 4403) { location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search)); return; }
    retry();
  };
}

function send(sock, m) { if (sock.readyState === 1) sock.send(JSON.stringify(m)); }
function subscribe(sock) {
  send(sock, chan.epoch ? { op: 'subscribe', ch, epoch: chan.epoch, seq: chan.seq } : { op: 'subscribe', ch });
}

function onMessage(sock, m) {
  if (typeof m.server_ms === 'number') offset = m.server_ms - Date.now();
  switch (m.type) {
    case 'hello': subscribe(sock); break;
    case 'subscribed': attempt = 0; setConn('live', 'live'); break;
    case 'snapshot':
      if (m.ch !== ch) return;
      if (m.part === 0) chan.parts = { set: {} };
      if (!chan.parts) return;
      Object.assign(chan.parts.set, m.set);
      if (m.last) {
        values.clear();
        applyKeys(chan.parts.set, []);
        chan.parts = null;
        chan.epoch = m.epoch;
        chan.seq = m.seq;
      }
      break;
    case 'delta':
      if (m.ch !== ch) return;
      if (m.epoch !== chan.epoch || m.from !== chan.seq + 1) { subscribe(sock); return; }
      applyKeys(m.set, m.del);
      chan.seq = m.seq;
      break;
    case 'heartbeat':
      if (m.seqs && typeof m.seqs[ch] === 'number' && m.seqs[ch] !== chan.seq && !chan.parts) subscribe(sock);
      break;
    case 'error':
      if (m.ch === ch) setConn('reconnecting', 'liveForbidden');
      break;
    default:
  }
}

function retry() {
  const base = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
  attempt = Math.min(attempt + 1, 16);
  setConn('reconnecting', 'reconnecting');
  setTimeout(connect, base / 2 + Math.random() * base / 2);
}

// ---- start -------------------------------------------------------------------
for (const b of document.querySelectorAll('#ranges button')) {
  b.addEventListener('click', () => {
    range = b.dataset.range;
    for (const o of document.querySelectorAll('#ranges button')) o.classList.toggle('on', o === b);
    if (device) loadCharts();
  });
}
$('lang').addEventListener('click', () => {
  lang = lang === 'vi' ? 'en' : 'vi';
  localStorage.setItem('ioc-lang', lang);
  applyLang();
});
setInterval(() => { for (const e of document.querySelectorAll('#values td.age')) { const m = values.get(e.parentElement.dataset.metric); if (m) e.textContent = ago(m.t); } }, 1000);

// What the browser tests read (dashboard/devicepage_browser_test.go).
window.__device = {
  ready: false,
  charts: () => [...charts.entries()].map(([m, c]) => ({ metric: m, points: c.points.length, drawn: !!c.plot && !c.host.hidden, csv: c.csv.href })),
  range: () => range,
  lastPoint: (m) => { const c = charts.get(m); return c && c.points.length ? c.points[c.points.length - 1] : null; },
};

async function start() {
  applyLang();
  if (!id) { showError(t('noDevice')); return; }
  setConn('connecting', 'connecting');
  let r;
  try {
    r = await fetch(api(''), { credentials: 'same-origin', cache: 'no-store' });
  } catch (e) { showError(t('loadFailed')); return; }
  if (r.status === 404) { showError(t('unknownDevice') + ': ' + id); return; }
  if (r.status === 401) { location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search)); return; }
  if (!r.ok) { showError(t('loadFailed')); return; }
  device = await r.json();
  if (typeof device.server_ms === 'number') offset = device.server_ms - Date.now();
  status = { status: device.live.status, cause: device.live.cause, at: device.live.since, last_seen: device.live.last };
  for (const [k, v] of Object.entries(device.live.m || {})) values.set(k, v);
  if (device.history_error) showError(t('historyError'));
  renderIdentity();
  renderValues();
  renderHistory();
  renderAlerts();
  await loadCharts();
  window.__device.ready = true;
  connect();
}
start();
