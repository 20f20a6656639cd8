// KPI page additions (an ES module, nothing inline: strict CSP): a click on
// a tile opens the breakdown behind it (by unit, field, main task, month;
// for dossiers, the late and near-due dossiers with unit and due time), with
// CSV/XLSX exports; and the leadership's report download (PDF, CSV, XLSX;
// Vietnamese or English). Its texts are section "kpiDrill" of the one
// translation table (lib/strings.js); it follows the page's language switch
// (lib/i18n.js onChange) and needs nothing from kpi.js but the tiles'
// data-id.

import { el, thead, closeButton as drillClose } from '/lib/dom.js';
import * as i18n from '/lib/i18n.js';

const t = i18n.t;
const lang = i18n.lang;
const num = i18n.num;
const when = i18n.dateTime;

function figure(v, unit) {
  if (v === null || v === undefined) return '—';
  if (unit === 'percent') return num(v, 1) + ' %';
  if (unit === 'percent_change') return (v >= 0 ? '+' : '−') + num(Math.abs(v), 1) + ' %';
  return num(v, 0);
}

function amount(v, id) {
  if (id.startsWith('budget.')) return t('kpiDrill.billion', { n: num(v / 1e9, 1) });
  return num(v, 0);
}

function table(headers, rows, aligns) {
  const tb = el('table', 'drill-table');
  const head = thead(headers.map((h, i) => [h, aligns[i] === 'r' ? 'r' : '']));
  const body = el('tbody');
  for (const r of rows) {
    const tr = el('tr');
    r.forEach((c, i) => tr.append(el('td', aligns[i] === 'r' ? 'r' : '', c)));
    body.append(tr);
  }
  tb.append(head, body);
  return tb;
}

function link(href, text, cls) {
  const a = el('a', cls || 'drill-dl', text);
  a.href = href;
  a.setAttribute('download', '');
  return a;
}

// ---- the drill-down panel ---------------------------------------------------

const panel = el('aside', 'drill');
panel.id = 'drill';
panel.hidden = true;
panel.setAttribute('role', 'dialog');
panel.setAttribute('aria-modal', 'false');
panel.setAttribute('aria-labelledby', 'drill-title');
document.body.append(panel);

const state = { id: '', tile: null, view: '', dims: [], seq: 0 };

async function tileInfo(id) {
  const r = await fetch('/api/kpis/' + encodeURIComponent(id), { cache: 'no-store' });
  return r.ok ? r.json() : null;
}

function views(id, dims) {
  const out = dims.map((d) => ({ key: d, label: t('kpiDrill.by.' + d) }));
  if (id.startsWith('dossiers.')) out.push({ key: 'late', label: t('kpiDrill.late') }, { key: 'near_due', label: t('kpiDrill.near_due') });
  return out;
}

async function open(id, view) {
  const seq = ++state.seq;
  state.id = id;
  panel.hidden = false;
  panel.dataset.id = id;
  panel.replaceChildren(el('p', 'drill-status', t('kpiDrill.loading')));
  try {
    if (!state.tile || state.tile.id !== id) state.tile = await tileInfo(id);
    const tile = state.tile || { id, unit: 'count', label_vi: id, label_en: id };
    let dims = state.dims;
    let body;
    const isList = view === 'late' || view === 'near_due';
    if (isList) {
      const r = await fetch('/api/kpis/' + encodeURIComponent(id) + '/dossiers?state=' + view + '&limit=500', { cache: 'no-store' });
      if (!r.ok) throw new Error(r.status);
      body = await r.json();
    } else {
      const q = view ? '?by=' + encodeURIComponent(view) : '';
      const r = await fetch('/api/kpis/' + encodeURIComponent(id) + '/breakdown' + q, { cache: 'no-store' });
      if (!r.ok) throw new Error(r.status);
      body = await r.json();
      dims = body.dimensions;
      view = body.by;
    }
    if (seq !== state.seq) return; // another tile was clicked meanwhile
    state.view = view;
    state.dims = dims;
    render(tile, body, isList);
  } catch (e) {
    if (seq === state.seq) panel.replaceChildren(closeButton(), el('p', 'drill-status error', t('kpiDrill.failed')));
  }
}

const closeButton = () => drillClose(t('kpiDrill.close'), close);

function close() {
  panel.hidden = true;
  state.id = '';
  state.seq++;
}

function render(tile, body, isList) {
  const id = tile.id;
  const head = el('header', 'drill-head');
  const title = el('h2', '', lang() === 'en' ? tile.label_en : tile.label_vi);
  title.id = 'drill-title';
  head.append(title, closeButton());
  const sub = el('p', 'drill-sub', t('kpiDrill.asof', { time: when(body.as_of_ms) }));
  const tabs = el('nav', 'drill-tabs');
  for (const v of views(id, state.dims)) {
    const b = el('button', v.key === state.view ? 'on' : '', v.label);
    b.type = 'button';
    b.dataset.view = v.key;
    b.setAttribute('aria-pressed', String(v.key === state.view));
    b.addEventListener('click', () => open(id, v.key));
    tabs.append(b);
  }
  const base = '/api/kpis/' + encodeURIComponent(id) + (isList ? '/dossiers?state=' + state.view : '/breakdown?by=' + state.view);
  const dl = el('p', 'drill-exports');
  dl.append(link(base + '&format=csv', 'CSV'), link(base + '&format=xlsx', 'XLSX'));
  let content;
  if (isList) {
    const list = body.dossiers || [];
    content = list.length === 0 ? el('p', 'drill-status', t('kpiDrill.none')) : table(
      [t('kpiDrill.dossier'), t('kpiDrill.unit'), t('kpiDrill.field'), t('kpiDrill.received'), t('kpiDrill.due'), t('kpiDrill.resolved')],
      list.map((d) => [d.dossier_id, d.unit_name || d.unit, (lang() === 'en' ? d.field_en : d.field_vi) || d.field, when(d.received_ms), when(d.due_ms), d.resolved_ms ? when(d.resolved_ms) : t('kpiDrill.open')]),
      ['l', 'l', 'l', 'r', 'r', 'r']);
    if (body.truncated) content = [content, el('p', 'drill-status', t('kpiDrill.more'))];
  } else {
    content = table([t('kpiDrill.name'), t('kpiDrill.value'), t('kpiDrill.numden')],
      (body.rows || []).map((r) => [
        (state.view === 'main_task' ? r.key + '. ' : '') + (lang() === 'en' ? r.label_en : r.label_vi),
        figure(r.value, tile.unit),
        r.denominator === null || r.denominator === undefined ? amount(r.numerator, id) : amount(r.numerator, id) + ' / ' + amount(r.denominator, id),
      ]), ['l', 'r', 'r']);
  }
  panel.replaceChildren(head, sub, tabs, ...[content].flat(), dl);
}

// The service index's tiles (ids service_index.*: the total and the six
// groups) open the index page, on the group clicked.
const INDEX = 'service_index.';
const isIndex = (id) => id.startsWith(INDEX);
function indexHref(id) {
  const g = id.slice(INDEX.length);
  return 'service-index.html' + (g && g !== 'total' ? '#' + encodeURIComponent(g) : '');
}

document.addEventListener('click', (ev) => {
  const card = ev.target.closest && ev.target.closest('#tiles .tile');
  if (!card || !card.dataset.id) return;
  if (isIndex(card.dataset.id)) {
    location.href = indexHref(card.dataset.id);
    return;
  }
  state.tile = null;
  state.dims = [];
  open(card.dataset.id, '');
});
document.addEventListener('keydown', (ev) => {
  if (ev.key === 'Escape' && !panel.hidden) close();
  if ((ev.key === 'Enter' || ev.key === ' ') && ev.target.matches && ev.target.matches('#tiles .tile')) {
    ev.preventDefault();
    ev.target.click();
  }
});
// Tiles are rebuilt on every update: make new ones reachable by keyboard.
const tilesEl = document.getElementById('tiles');
if (tilesEl) {
  const mark = () => {
    for (const c of tilesEl.querySelectorAll('.tile')) {
      if (!c.hasAttribute('tabindex')) {
        c.tabIndex = 0;
        c.setAttribute('role', isIndex(c.dataset.id || '') ? 'link' : 'button');
        c.title = isIndex(c.dataset.id || '') ? t('kpi.indexHint') : t('kpiDrill.hint');
      }
    }
  };
  new MutationObserver(mark).observe(tilesEl, { childList: true });
  mark();
}

// ---- the report download ----------------------------------------------------

const bar = el('form', 'report-bar');
bar.id = 'report-bar';
const periodSel = el('select');
periodSel.id = 'report-period';
const langSel = el('select');
langSel.id = 'report-lang';
for (const v of i18n.LANGS) { const o = el('option', '', t('common.lang.' + v)); o.value = v; langSel.append(o); }
const fmtSel = el('select');
fmtSel.id = 'report-format';
for (const v of ['pdf', 'xlsx', 'csv']) { const o = el('option', '', v.toUpperCase()); o.value = v; fmtSel.append(o); }
const go = el('a', 'report-go');
go.id = 'report-download';
go.setAttribute('download', '');
const label = el('span', 'report-label');
bar.append(label, periodSel, langSel, fmtSel, go);
bar.addEventListener('submit', (e) => e.preventDefault());

function periods(year, lastMonth) {
  const out = [];
  if (lastMonth > 6) out.push([year + '-H2', t('kpiDrill.half', { n: 2, year })]);
  out.push([year + '-H1', t('kpiDrill.half', { n: 1, year })]);
  for (let q = Math.ceil(lastMonth / 3); q >= 1; q--) out.push([year + '-Q' + q, t('kpiDrill.quarter', { n: q, year })]);
  for (let m = lastMonth; m >= 1; m--) { const mm = String(m).padStart(2, '0'); out.push([year + '-' + mm, t('kpiDrill.month', { n: mm, year })]); }
  out.push([String(year), t('kpiDrill.year', { year })]);
  return out;
}

let asOfDay = '';
function fillBar() {
  label.textContent = t('kpiDrill.report');
  periodSel.title = t('kpiDrill.period');
  go.textContent = t('kpiDrill.download');
  const keep = periodSel.value;
  if (asOfDay) {
    const [y, m] = asOfDay.split('-').map(Number);
    periodSel.replaceChildren(...periods(y, m).map(([v, l]) => { const o = el('option', '', l); o.value = v; return o; }));
    periodSel.value = keep || (m <= 6 ? y + '-H1' : y + '-H2');
  }
  if (!langSel.dataset.touched) langSel.value = lang();
  updateLink();
}
function updateLink() {
  go.href = '/api/kpis/report?period=' + encodeURIComponent(periodSel.value) + '&lang=' + langSel.value + '&format=' + fmtSel.value;
}
periodSel.addEventListener('change', updateLink);
fmtSel.addEventListener('change', updateLink);
langSel.addEventListener('change', () => { langSel.dataset.touched = '1'; updateLink(); });

const controls = document.querySelector('header.top .controls') || document.body;
controls.prepend(bar);
fetch('/api/kpis', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).then((b) => {
  const first = b && b.tiles && b.tiles[0];
  if (first && first.period) asOfDay = first.period.to;
  fillBar();
}).catch(() => fillBar());

// Follow the page's language switch.
i18n.onChange(() => {
  fillBar();
  for (const c of tilesEl ? tilesEl.querySelectorAll('.tile[tabindex]') : []) c.title = isIndex(c.dataset.id || '') ? t('kpi.indexHint') : t('kpiDrill.hint');
  if (!panel.hidden && state.id) open(state.id, state.view);
});
fillBar();

// The stylesheet of these additions.
const css = document.createElement('link');
css.rel = 'stylesheet';
css.href = 'kpi-drill.css';
document.head.append(css);
