// The service index of Decision 766/QĐ-TTg for the leadership: the city's
// total out of 100, its six groups, the trend by month (uPlot), the units
// ranked; a unit opens to its indicators (numerator, denominator, rate,
// points, rule, "not applicable", as of), an indicator to the dossiers that
// cost it points. Data: /api/kpis/service-index/… (dashboard/serviceindex.go).
// Texts: section "svcIndex" of lib/strings.js. An ES module, nothing inline.
import { $, el, setText, thead, closeButton as drillClose } from '/lib/dom.js';
import * as i18n from '/lib/i18n.js';

const t = i18n.t;
const TZ = i18n.TZ;
// The six groups in the engine's order (svcindex.Groups); a score lists them so.
const GROUPS = ['publicity', 'progress', 'online', 'payment', 'satisfaction', 'digitisation'];
const API = '/api/kpis/service-index/';

const state = { period: null, city: null, ranking: [], trend: [], unit: '', unitScore: null, reasons: {}, costly: null, seq: 0, loadSeq: 0, plot: null };
// seq orders the unit panel's requests, loadSeq the page's: a click on a
// unit while a period loads cancels neither.
window.__svcIndex = { ready: false, period: () => state.period && state.period.key };

const en = () => i18n.lang() === 'en';

const num = i18n.num;
const pts = (v) => num(v, 2);

// when is an API time (RFC 3339; Go's zero time is no time).
const when = (iso) => (!iso || iso.startsWith('0001-') ? '—' : i18n.dateTime(new Date(iso)));

const name = (x) => (en() ? x.name_en : x.name_vi) || x.code;

// A group with no points to score: none of its indicators applies to the
// unit, or those that apply have nothing to count yet.
const groupEmpty = (g) => ((g.indicators || []).some((i) => i.applies) ? t('svcIndex.noData') : t('svcIndex.na'));

async function getJSON(path) {
  const r = await fetch(API + path, { cache: 'no-store', credentials: 'same-origin' });
  if (!r.ok) {
    let msg = 'HTTP ' + r.status;
    try { msg = (await r.json()).message || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}

// ---- periods ------------------------------------------------------------------

// A period key's year and last month: 2026-11, 2026-Q4, 2026-YTD-11.
function parseKey(key) {
  let m = /^(\d{4})-(\d{2})$/.exec(key);
  if (m) return { kind: 'month', year: +m[1], month: +m[2] };
  m = /^(\d{4})-Q([1-4])$/.exec(key);
  if (m) return { kind: 'quarter', year: +m[1], month: 3 * m[2] };
  m = /^(\d{4})-YTD-(\d{2})$/.exec(key);
  if (m) return { kind: 'ytd', year: +m[1], month: +m[2] };
  return null;
}

function keyOf(kind, year, month) {
  const mm = String(month).padStart(2, '0');
  if (kind === 'quarter') return year + '-Q' + Math.ceil(month / 3);
  if (kind === 'ytd') return year + '-YTD-' + mm;
  return year + '-' + mm;
}

function titleOf(key) {
  const p = parseKey(key);
  if (!p) return key;
  const mm = String(p.month).padStart(2, '0');
  if (p.kind === 'quarter') return t('svcIndex.quarter', { n: Math.ceil(p.month / 3), year: p.year });
  if (p.kind === 'ytd') return t('svcIndex.ytd', { n: mm, year: p.year });
  return t('svcIndex.month', { n: mm, year: p.year });
}

let anchor = null; // {year, month}: the newest month the picker offers

function fillPicker() {
  if (!anchor || !state.period) return;
  const kind = $('period-kind').value;
  const opts = [];
  let y = anchor.year;
  let m = anchor.month;
  if (kind === 'quarter') {
    m = 3 * Math.ceil(m / 3);
    for (let i = 0; i < 8; i++) { opts.push(keyOf('quarter', y, m)); m -= 3; if (m <= 0) { m += 12; y--; } }
  } else {
    for (let i = 0; i < 24; i++) { opts.push(keyOf(kind, y, m)); m--; if (m === 0) { m = 12; y--; } }
  }
  const cur = state.period.key;
  if (!opts.includes(cur) && parseKey(cur) && parseKey(cur).kind === kind) opts.unshift(cur);
  $('period-key').replaceChildren(...opts.map((k) => { const o = el('option', '', titleOf(k)); o.value = k; return o; }));
  if (opts.includes(cur)) $('period-key').value = cur;
}

$('period-kind').addEventListener('change', () => {
  const p = parseKey(state.period.key);
  load(keyOf($('period-kind').value, p.year, p.month));
});
$('period-key').addEventListener('change', () => load($('period-key').value));
$('picker').addEventListener('submit', (e) => e.preventDefault());

// ---- the city, its groups and trend ------------------------------------------

function bar(frac, cls) {
  const b = el('div', 'pbar' + (cls ? ' ' + cls : ''));
  const f = el('div', 'pfill');
  f.style.width = (Math.max(0, Math.min(1, frac)) * 100).toFixed(1) + '%';
  b.append(f);
  return b;
}

function renderCity() {
  const c = state.city;
  if (!c) return;
  setText($('total'), pts(c.total));
  setText($('total-max'), ' / ' + num(c.max, 0));
  setText($('asof'), when(c.as_of));
  setText($('period-title'), titleOf(c.period.key));
  $('total-note').textContent = c.restated ? t('svcIndex.restated') : '';
  const cards = GROUPS.map((code) => {
    const g = (c.groups || []).find((x) => x.code === code);
    const card = el('div', 'group');
    card.dataset.group = code;
    if (location.hash === '#' + code) card.classList.add('focus'); // a group tile of the KPI board links here
    if (!g) return card;
    card.append(el('div', 'gname', name(g)));
    if (g.max > 0) {
      const v = el('div', 'gval', pts(g.points));
      v.append(el('span', 'of', ' / ' + num(g.max, 0)));
      card.append(v, bar(g.points / g.max));
    } else {
      card.append(el('div', 'gval na', groupEmpty(g)));
    }
    return card;
  });
  $('groups').replaceChildren(...cards);
}

function renderTrend() {
  const host = $('trend');
  const months = (state.trend || []).filter((s) => s && s.period);
  $('trend-empty').hidden = months.length > 0;
  host.hidden = months.length === 0;
  if (state.plot) { state.plot.destroy(); state.plot = null; }
  if (!months.length || typeof uPlot === 'undefined') return;
  const xs = months.map((s) => Date.parse(s.period.start) / 1000);
  const ys = months.map((s) => (s.max > 0 ? s.total : null)); // a month with nothing to score is a gap, not 0
  const fmt = new Intl.DateTimeFormat(i18n.locale(), { timeZone: TZ, month: '2-digit', year: 'numeric' });
  const axis = { stroke: '#8fa3b8', grid: { stroke: '#26374b', width: 1 }, ticks: { stroke: '#26374b' } };
  state.plot = new uPlot({ // eslint-disable-line no-undef
    width: Math.max(320, host.clientWidth), height: 200,
    scales: { x: { time: true }, y: { range: [0, 100] } },
    axes: [{ ...axis, space: 70, values: (u, vals) => vals.map((v) => fmt.format(v * 1000)) }, { ...axis, size: 44 }],
    series: [
      { label: t('svcIndex.monthCol'), value: (u, v) => (v == null ? '—' : fmt.format(v * 1000)) },
      { label: t('svcIndex.total'), stroke: '#5aa9ff', width: 2, fill: 'rgba(90,169,255,0.12)', points: { show: true, size: 7, fill: '#5aa9ff' }, value: (u, v) => (v == null ? '—' : pts(v)) },
    ],
  }, [xs, ys], host);
}

// ---- the ranking ----------------------------------------------------------------

function renderRanking() {
  const rows = state.ranking.map((s, i) => {
    const tr = el('tr', 'unit-row' + (s.unit.id === state.unit ? ' on' : ''));
    tr.dataset.unit = s.unit.id;
    tr.tabIndex = 0;
    tr.setAttribute('role', 'button');
    const kind = i18n.has('svcIndex.kind.' + s.unit.kind) ? t('svcIndex.kind.' + s.unit.kind) : s.unit.kind;
    const nameTd = el('td', 'uname', s.unit.name);
    nameTd.append(el('span', 'ukind', kind));
    const barTd = el('td', 'barcol');
    barTd.append(bar(s.max > 0 ? s.total / s.max : 0));
    const total = el('td', 'r tot', pts(s.total));
    total.append(el('span', 'of', ' / ' + num(s.max, 0)));
    tr.append(el('td', 'r', String(i + 1)), nameTd, total, el('td', 'r', num(s.percent || 0, 1) + ' %'), barTd);
    return tr;
  });
  $('ranking').replaceChildren(...rows);
  $('rank-empty').hidden = rows.length > 0;
  const q = 'period=' + encodeURIComponent(state.period.key);
  $('export-csv').href = API + 'export?' + q + '&format=csv';
  $('export-xlsx').href = API + 'export?' + q + '&format=xlsx';
}

$('ranking').addEventListener('click', (ev) => {
  const row = ev.target.closest('tr.unit-row');
  if (row) openUnit(row.dataset.unit);
});
$('ranking').addEventListener('keydown', (ev) => {
  const row = ev.target.closest && ev.target.closest('tr.unit-row');
  if (row && (ev.key === 'Enter' || ev.key === ' ')) { ev.preventDefault(); openUnit(row.dataset.unit); }
});

// ---- a unit's indicators and its costly dossiers ----------------------------------

const panel = $('unit');

const closeButton = () => drillClose(t('svcIndex.close'), closeUnit);

function closeUnit() {
  panel.hidden = true;
  state.unit = '';
  state.unitScore = null;
  state.costly = null;
  state.seq++;
  renderRanking();
  syncURL();
}

async function openUnit(id, costly) {
  const seq = ++state.seq;
  state.unit = id;
  state.costly = costly || null;
  panel.hidden = false;
  panel.dataset.unit = id;
  renderRanking();
  syncURL();
  panel.replaceChildren(closeButton(), el('p', 'drill-status', t('svcIndex.loading')));
  try {
    const body = await getJSON('score?period=' + encodeURIComponent(state.period.key) + '&unit=' + encodeURIComponent(id));
    if (seq !== state.seq) return;
    state.unitScore = body;
    state.reasons = body.costly_reasons || {};
    renderUnit();
    if (state.costly) showCostly(state.costly.code, state.costly.reason);
  } catch (e) {
    if (seq === state.seq) panel.replaceChildren(closeButton(), el('p', 'drill-status error', t('svcIndex.failed', { error: e.message })));
  }
}

function ruleText(ind) {
  if (ind.rule === 'threshold') return t('svcIndex.rule.threshold', { n: num((ind.threshold || 0) * 100, 0) });
  if (ind.rule === 'linear') return t('svcIndex.rule.linear');
  return ind.rule || '—';
}

function indicatorRow(ind) {
  const tr = el('tr', 'ind' + (ind.applies ? '' : ' na'));
  tr.dataset.code = ind.code;
  const nameTd = el('td', '', name(ind));
  if (!ind.applies) {
    tr.append(nameTd);
    const na = el('td', 'na', t('svcIndex.na'));
    na.colSpan = 6;
    tr.append(na);
    return tr;
  }
  const reason = state.reasons[ind.code];
  if (reason) {
    const b = el('button', 'costly-btn', t('svcIndex.reason.' + reason));
    b.type = 'button';
    b.dataset.reason = reason;
    b.title = t('svcIndex.costly');
    b.addEventListener('click', () => showCostly(ind.code, reason));
    nameTd.append(el('br'), b);
  }
  tr.append(nameTd,
    el('td', 'r', num(ind.numerator, 0)),
    el('td', 'r', num(ind.denominator, 0)),
    el('td', 'r', ind.no_data ? t('svcIndex.noData') : num(ind.rate * 100, 2) + ' %'),
    el('td', 'r pts', pts(ind.points) + ' / ' + pts(ind.max)),
    el('td', 'rule', ruleText(ind)));
  return tr;
}

function renderUnit() {
  const s = state.unitScore;
  if (!s) return;
  const head = el('header', 'drill-head');
  const title = el('h2', '', s.unit.name);
  title.id = 'unit-title';
  head.append(title, closeButton());
  const sub = el('p', 'drill-sub', t('svcIndex.unitTotal', { total: pts(s.total), max: num(s.max, 0) }) + ' · ' +
    titleOf(s.period.key) + ' · ' + t('svcIndex.asofAt', { time: when(s.as_of) }));
  const parts = [head, sub];
  for (const code of GROUPS) {
    const g = (s.groups || []).find((x) => x.code === code);
    if (!g) continue;
    const h = el('h3', 'gh', name(g) + ' — ' + (g.max > 0 ? pts(g.points) + ' / ' + num(g.max, 0) : groupEmpty(g)));
    const tb = el('table', 'drill-table ind-table');
    tb.dataset.group = code;
    const head = thead([['indicator', ''], ['numerator', 'r'], ['denominator', 'r'], ['rate', 'r'], ['points', 'r'], ['rule', '']]
      .map(([k, r]) => [t('svcIndex.' + k), r]));
    const body = el('tbody');
    body.append(...(g.indicators || []).map(indicatorRow));
    tb.append(head, body);
    parts.push(h, tb);
  }
  const costly = el('section', 'costly');
  costly.id = 'costly';
  costly.hidden = true;
  parts.push(costly);
  panel.replaceChildren(...parts);
}

async function showCostly(code, reason) {
  const box = $('costly');
  if (!box) return;
  state.costly = { code, reason };
  syncURL();
  const seq = state.seq;
  box.hidden = false;
  box.dataset.reason = reason;
  box.replaceChildren(el('p', 'drill-status', t('svcIndex.loading')));
  const q = 'period=' + encodeURIComponent(state.period.key) + '&unit=' + encodeURIComponent(state.unit) + '&reason=' + reason;
  try {
    const body = await getJSON('costly?' + q + '&limit=200');
    if (seq !== state.seq) return;
    const ind = findIndicator(code);
    const h = el('h3', 'gh', t('svcIndex.costlyOf', { reason: t('svcIndex.reason.' + reason) }) + (ind ? ' — ' + name(ind) : ''));
    const list = body.dossiers || [];
    let content;
    if (!list.length) {
      content = el('p', 'drill-status', t('svcIndex.noCostly'));
    } else {
      const tb = el('table', 'drill-table costly-table');
      const head = thead([['dossier', ''], ['procedure', ''], ['reasonCol', ''], ['received', 'r'], ['due', 'r']]
        .map(([k, r]) => [t('svcIndex.' + k), r]));
      const tbody = el('tbody');
      for (const d of list) {
        const tr = el('tr');
        tr.dataset.id = d.id;
        tr.append(el('td', '', d.id), el('td', '', d.procedure_code || '—'),
          el('td', '', i18n.has('svcIndex.reason.' + d.reason) ? t('svcIndex.reason.' + d.reason) : d.reason),
          el('td', 'r', when(d.received_at)), el('td', 'r', when(d.due_at)));
        tbody.append(tr);
      }
      tb.append(head, tbody);
      content = tb;
    }
    const dl = el('p', 'drill-exports');
    for (const f of ['csv', 'xlsx']) {
      const a = el('a', 'drill-dl', f.toUpperCase());
      a.href = API + 'costly?' + q + '&format=' + f;
      a.setAttribute('download', '');
      dl.append(a);
    }
    box.replaceChildren(h, content, ...(body.truncated ? [el('p', 'drill-status', t('svcIndex.more'))] : []), dl);
    box.scrollIntoView({ block: 'nearest' });
  } catch (e) {
    if (seq === state.seq) box.replaceChildren(el('p', 'drill-status error', t('svcIndex.failed', { error: e.message })));
  }
}

function findIndicator(code) {
  for (const g of (state.unitScore && state.unitScore.groups) || []) {
    for (const i of g.indicators || []) if (i.code === code) return i;
  }
  return null;
}

// ---- loading, the address, the language ------------------------------------------

function syncURL() {
  const u = new URL(location.href);
  if (state.period) u.searchParams.set('period', state.period.key);
  if (state.unit) u.searchParams.set('unit', state.unit); else u.searchParams.delete('unit');
  if (state.costly) u.searchParams.set('reason', state.costly.reason + ':' + state.costly.code); else u.searchParams.delete('reason');
  if (u.href !== location.href) history.replaceState(history.state, '', u.href);
}

function status(text, error) {
  const s = $('status');
  s.hidden = !text;
  s.textContent = text || '';
  s.classList.toggle('error', !!error);
}

async function load(key) {
  const seq = ++state.loadSeq;
  window.__svcIndex.ready = false;
  status(t('svcIndex.loading'));
  try {
    const q = key ? '?period=' + encodeURIComponent(key) : '';
    const city = await getJSON('score' + q);
    const pk = encodeURIComponent(city.period.key);
    const [ranking, trend] = await Promise.all([getJSON('ranking?period=' + pk), getJSON('trend?unit=city&months=12&period=' + pk)]);
    if (seq !== state.loadSeq) return;
    state.period = city.period;
    state.city = city;
    state.ranking = ranking.units || [];
    state.trend = trend.months || [];
    const p = parseKey(city.period.key);
    if (!anchor || p.year * 12 + p.month > anchor.year * 12 + anchor.month) anchor = { year: p.year, month: p.month };
    $('period-kind').value = p.kind;
    fillPicker();
    status('');
    renderCity();
    renderRanking();
    renderTrend();
    syncURL();
    window.__svcIndex.ready = true;
    const u = new URLSearchParams(location.search);
    if (state.unit) openUnit(state.unit, state.costly);
    else if (u.get('unit')) {
      const [reason, code] = (u.get('reason') || '').split(':');
      openUnit(u.get('unit'), reason && code ? { reason, code } : null);
    }
  } catch (e) {
    if (seq === state.loadSeq) status(t('svcIndex.failed', { error: e.message }), true);
  }
}

i18n.bindToggle($('lang'));
i18n.onChange(() => {
  if (!state.city) return;
  fillPicker();
  renderCity();
  renderRanking();
  renderTrend();
  if (state.unitScore && !panel.hidden) {
    const c = state.costly;
    renderUnit();
    if (c) showCostly(c.code, c.reason);
  }
});
document.addEventListener('keydown', (ev) => { if (ev.key === 'Escape' && !panel.hidden) closeUnit(); });
window.addEventListener('resize', () => { if (state.plot) state.plot.setSize({ width: Math.max(320, $('trend').clientWidth), height: 200 }); });
i18n.start();
load(new URLSearchParams(location.search).get('period') || '');
