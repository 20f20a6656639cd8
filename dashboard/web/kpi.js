// Leadership KPI page: the administrative-reform tiles, live over the same
// websocket client as the wall (lib/ws.js: protocol v2, channel "kpi").
// Vietnamese or English from the one translation table (lib/i18n.js, section
// "kpi"). No framework, no build step, nothing inline: every element is
// built with the DOM API and filled with textContent.
import { $, el } from '/lib/dom.js';
import * as i18n from '/lib/i18n.js';
import { connect } from '/lib/ws.js';

const t = i18n.t;
const SVG = 'http://www.w3.org/2000/svg';
const L = () => i18n.lang();

const tiles = new Map(); // id -> tile
const changed = new Set();

const num = i18n.num;
const when = i18n.dateTime;

function day(iso) {
  const [y, m, d] = String(iso).split('-');
  return d + '/' + m + '/' + y;
}

// The service index's tiles (service_index.*: points out of the points
// that apply) show points with two decimals, as the portal does.
const isIndex = (tile) => String(tile.id || '').startsWith('service_index.');

// value as shown big, with its unit
function bigValue(tile) {
  if (tile.value === null || tile.value === undefined) return ['—', ''];
  if (isIndex(tile)) return [num(tile.value, 2), ''];
  switch (tile.unit) {
    case 'percent': return [num(tile.value, 1), '%'];
    case 'percent_change': return [(tile.value >= 0 ? '+' : '−') + num(Math.abs(tile.value), 1), '%'];
    default: return [num(tile.value, 0), ''];
  }
}

function amount(v, id) {
  if (id.startsWith('budget.')) return num(v / 1e9, 1) + ' ' + t('kpi.billion');
  return num(v, 0);
}

function detailText(tile) {
  if (isIndex(tile)) {
    const d = tile.denominator;
    return num(tile.numerator, 2) + (d === null || d === undefined ? '' : ' / ' + num(d, 0)) + ' ' + t('kpi.points');
  }
  const noun = i18n.has('kpi.noun.' + tile.id) ? ' ' + t('kpi.noun.' + tile.id) : '';
  const n = tile.numerator;
  const d = tile.denominator;
  if (tile.unit === 'percent_change') {
    if (d === null || d === undefined) return amount(n, tile.id) + noun;
    return amount(n, tile.id) + ' / ' + amount(d, tile.id) + ' (' + t('kpi.vsYear') + ')' + (tile.id.startsWith('budget.') ? '' : noun);
  }
  if (d === null || d === undefined) return amount(n, tile.id) + noun;
  if (tile.id.startsWith('budget.')) return amount(n, tile.id) + ' / ' + amount(d, tile.id);
  return amount(n, tile.id) + ' ' + t('kpi.of') + ' ' + amount(d, tile.id) + noun;
}

// good: the target is met; warn: a count that should be zero is not
// (overdue tasks, late dossiers); null: on the way, or no target.
function status(tile) {
  if (tile.target === null || tile.target === undefined || tile.value === null) return null;
  if (tile.target === 0) return tile.value <= 0 ? 'good' : 'warn';
  return tile.value >= tile.target - 1e-9 ? 'good' : null;
}

function bar(tile) {
  // Percent tiles: value against 100 with the target marked; counts with a
  // denominator: share of it.
  let frac = null;
  if (tile.unit === 'percent' && tile.value !== null) frac = tile.value / 100;
  else if (tile.unit === 'count' && tile.denominator) frac = tile.numerator / tile.denominator;
  if (frac === null) return null;
  frac = Math.max(0, Math.min(1, frac));
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('class', 'bar');
  s.setAttribute('viewBox', '0 0 100 6');
  s.setAttribute('preserveAspectRatio', 'none');
  s.setAttribute('aria-hidden', 'true');
  const track = document.createElementNS(SVG, 'rect');
  track.setAttribute('class', 'track');
  track.setAttribute('width', '100'); track.setAttribute('height', '6'); track.setAttribute('rx', '1');
  const fill = document.createElementNS(SVG, 'rect');
  fill.setAttribute('class', 'fill');
  fill.setAttribute('width', String(frac * 100)); fill.setAttribute('height', '6'); fill.setAttribute('rx', '1');
  s.append(track, fill);
  if (tile.unit === 'percent' && tile.target !== null && tile.target > 0 && tile.target < 100) {
    const mark = document.createElementNS(SVG, 'rect');
    mark.setAttribute('class', 'mark');
    mark.setAttribute('x', String(tile.target - 0.4)); mark.setAttribute('width', '0.8'); mark.setAttribute('height', '6');
    s.append(mark);
  }
  return s;
}

function spark(tile) {
  const pts = (tile.series || []).filter((p) => p.value !== null && p.value !== undefined);
  if (pts.length < 2) return null;
  const vals = pts.map((p) => p.value);
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  if (tile.unit === 'percent') { lo = Math.min(lo, 0); hi = Math.max(hi, 100); }
  if (hi === lo) { hi = lo + 1; }
  const t0 = pts[0].ms;
  const t1 = pts[pts.length - 1].ms;
  const x = (ms) => (t1 === t0 ? 0 : ((ms - t0) / (t1 - t0)) * 100);
  const y = (v) => 28 - ((v - lo) / (hi - lo)) * 26;
  const s = document.createElementNS(SVG, 'svg');
  s.setAttribute('class', 'spark');
  s.setAttribute('viewBox', '-2 0 104 30');
  s.setAttribute('preserveAspectRatio', 'none');
  s.setAttribute('role', 'img');
  s.setAttribute('aria-label', pts.map((p) => day(p.at) + ': ' + bigValue({ value: p.value, unit: tile.unit }).join(' ')).join('; '));
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', pts.map((p) => x(p.ms).toFixed(2) + ',' + y(p.value).toFixed(2)).join(' '));
  const last = pts[pts.length - 1];
  const dot = document.createElementNS(SVG, 'circle');
  dot.setAttribute('cx', x(last.ms).toFixed(2)); dot.setAttribute('cy', y(last.value).toFixed(2)); dot.setAttribute('r', '1.6');
  s.append(line, dot);
  return s;
}

function tileEl(tile) {
  const card = el('section', 'tile');
  card.dataset.id = tile.id;
  const st = status(tile);
  if (st) card.classList.add(st);
  if (changed.has(tile.id)) card.classList.add('flash');
  card.append(el('div', 'group', i18n.has('kpi.group.' + tile.group) ? t('kpi.group.' + tile.group) : tile.group));
  card.append(el('div', 'label', L() === 'en' ? tile.label_en : tile.label_vi));
  const [v, unit] = bigValue(tile);
  const value = el('div', 'value', v);
  value.dataset.value = tile.value === null ? '' : String(tile.value);
  if (unit) value.append(el('span', 'unit', unit));
  card.append(value);
  card.append(el('div', 'detail', detailText(tile)));
  let target = t('kpi.target') + ': ';
  if (tile.target === null || tile.target === undefined) target += t('kpi.noTarget');
  else target += tile.unit === 'count' ? num(tile.target, 0) : num(tile.target, 0) + ' %';
  const meta = el('div', 'target');
  meta.append(el('span', '', target), el('span', 'asof', t('kpi.asof') + ' ' + when(tile.as_of_ms)));
  card.append(meta);
  const b = bar(tile);
  if (b) card.append(b);
  const sp = spark(tile);
  if (sp) card.append(sp);
  if (tile.breakdown && tile.breakdown.length) {
    const bd = el('div', 'breakdown');
    for (const p of tile.breakdown) {
      const label = L() === 'en' ? p.label_en : p.label_vi;
      // Numbered keys (main tasks) show as "NV 3", with the name on hover.
      const short = /^\d+$/.test(p.key) ? t('kpi.task') + ' ' + p.key : label;
      const item = el('span');
      item.title = label;
      item.append(el('b', '', num(p.value, 0)), document.createTextNode(' ' + short));
      bd.append(item);
    }
    card.append(bd);
  }
  const foot = el('div', 'foot');
  if (tile.restated && tile.restated.months && tile.restated.months.length) {
    const r = tile.restated;
    let txt = t('kpi.restated') + ' ' + r.months.map((m) => m.slice(5) + '/' + m.slice(0, 4)).join(', ') + ' · ' + when(r.at_ms);
    if (r.previous_value !== null && r.previous_value !== undefined) {
      txt += ' (' + t('kpi.was') + ' ' + bigValue({ value: r.previous_value, unit: tile.unit }).join(' ') + ')';
    }
    foot.append(el('span', 'restated', txt));
  }
  if (foot.childElementCount) card.append(foot);
  return card;
}

// Cards are keyed by tile id: one is built again only when its tile or the
// language changed, and the list is replaced only when its order changed.
const cards = new Map(); // id -> {tile, lang, node}

function card(tile) {
  const c = cards.get(tile.id);
  if (c && c.tile === tile && c.lang === L()) return c.node;
  const node = tileEl(tile);
  cards.set(tile.id, { tile, lang: L(), node });
  return node;
}

function render() {
  const list = [...tiles.values()].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
  const nodes = list.map(card);
  for (const id of cards.keys()) if (!tiles.has(id)) cards.delete(id);
  const box = $('tiles');
  if (nodes.length !== box.children.length || nodes.some((n, i) => box.children[i] !== n)) box.replaceChildren(...nodes);
  changed.clear();
  $('empty').hidden = list.length > 0;
  const first = list[0];
  $('asof-time').textContent = first ? when(first.as_of_ms) : '—';
  $('period').textContent = first ? day(first.period.from) + ' – ' + day(first.period.to) : '—';
}

i18n.bindToggle($('lang'));
i18n.onChange(() => { render(); setConn(connState); });

function take(list, full) {
  if (!Array.isArray(list)) return;
  if (full) tiles.clear();
  for (const tile of list) {
    if (!tile || typeof tile.id !== 'string') continue;
    const old = tiles.get(tile.id);
    if (old && old.computed_ms > tile.computed_ms) continue; // never go back
    if (!old || old.value !== tile.value || old.numerator !== tile.numerator) changed.add(tile.id);
    tiles.set(tile.id, tile);
  }
  render();
}

let connState = 'connecting';
function setConn(s) {
  connState = s;
  const c = $('conn');
  c.className = 'conn ' + s;
  $('conn-text').textContent = s === 'live' ? t('kpi.conn.live') : s === 'down' ? t('kpi.conn.down') : t('kpi.conn.connecting');
}

fetch('/api/kpis', { cache: 'no-store' })
  .then((r) => (r.ok ? r.json() : null))
  .then((body) => { if (body && tiles.size === 0) take(body.tiles, true); })
  .catch(() => {});

// Websocket protocol v2 (docs/websocket.md): the channel "kpi", keys are
// tile ids, values whole tiles; lib/ws.js resumes after gaps and reconnects.
connect({
  channels: ['kpi'],
  status: (st) => setConn(st === 'live' ? 'live' : st === 'retry' ? 'down' : 'connecting'),
  snapshot: (ch, set) => take(Object.values(set), true),
  delta: (ch, set, del) => {
    for (const id of del) tiles.delete(id);
    take(Object.values(set), false);
  },
});
i18n.start();
render();
setConn(connState);
