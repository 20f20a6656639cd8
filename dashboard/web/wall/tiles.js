// The tiles panel: VN_AQI per station in the categories of Decision
// 1459/QĐ-TCMT, water levels against the warning stages, and the rain,
// traffic and street-lighting tiles. Tiles are built once per registry
// version, keyed by device id; a render writes only changed text and classes.
import { $, el, nfc, setAttr, setClass, setParts, setText, toggleClass } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { devices, registryChanged } from './map.js';
import { meta, of, state } from './store.js';
import { hm, hms, now } from './time.js';

const CATS = [ // Decision 1459/QĐ-TCMT, Table 1
  { hi: 50, key: 'good', color: '#00e400' }, { hi: 100, key: 'moderate', color: '#ffff00' },
  { hi: 150, key: 'poor', color: '#ff7e00' }, { hi: 200, key: 'bad', color: '#ff0000' },
  { hi: 300, key: 'verybad', color: '#8f3f97' }, { hi: Infinity, key: 'hazardous', color: '#7e0023' },
];
const GAUGE_MAX = 3.2;

const aqiTiles = new Map();  // device -> {root, v, cat, t}
const waterRows = new Map(); // device -> {root, fill, gauge, v, stage, marks}
const scaleSpans = [];

const num = (m) => (m && typeof m.v === 'number' ? m.v : null);
const metric = (d, ...names) => { for (const n of names) if (d && d.m && d.m[n]) return d.m[n]; return null; };
const cat = (aqi) => { for (let i = 0; i < CATS.length; i++) if (aqi <= CATS[i].hi) return i; return CATS.length - 1; };
const shortWard = (w) => nfc(w).replace(/^(Phường|Xã) /, '');

function staleMark(node, stale, since) {
  toggleClass(node, 'is-stale', stale);
  if (stale) setAttr(node, 'data-stale', t('wall.staleData', { since: since > 0 ? hm(since) : t('wall.staleData.never') }));
}

registryChanged(() => {
  const aq = $('aqi-grid'), wl = $('water-list');
  aq.textContent = ''; wl.textContent = '';
  aqiTiles.clear(); waterRows.clear();
  for (const [id, g] of devices()) {
    if (g.type === 'air_quality') {
      const root = el('div', 'aqi');
      root.dataset.device = id;
      const row = el('div', 'row');
      const v = el('span', 'v', '—'), c = el('span', 'cat', '');
      row.append(v, c);
      const tx = el('div', 't', '');
      root.append(el('div', 'name', shortWard(g.ward)), row, tx);
      aq.append(root);
      aqiTiles.set(id, { root, v, cat: c, t: tx });
    } else if (g.type === 'water_level') {
      const root = el('div', 'water');
      root.dataset.device = id;
      const gauge = el('div', 'gauge'), fill = el('div', 'fill');
      gauge.append(fill);
      const read = el('div', 'read'), v = el('span', 'v', '—'), u = el('span', 'u', 'm'), stage = el('span', 'stage', '');
      read.append(v, u, stage);
      root.append(el('div', 'name', shortWard(g.ward) + ' · ' + id.replace('water-', '')), gauge, read);
      wl.append(root);
      waterRows.set(id, { root, fill, gauge, v, stage, marks: false });
    }
  }
});

function scale() {
  const s = $('aqi-scale');
  if (!scaleSpans.length) {
    CATS.forEach((c, i) => {
      const span = el('span', '');
      span.style.background = c.color;
      if (i >= 4) span.style.color = '#fff';
      s.append(span);
      scaleSpans.push(span);
    });
  }
  CATS.forEach((c, i) => setText(scaleSpans[i], t('wall.aqi.' + c.key) + ' ' + (i === 0 ? '0' : CATS[i - 1].hi + 1) + (c.hi === Infinity ? '+' : '–' + c.hi)));
}

function setUpdated(node, ms) { setText(node, t('wall.updated', { time: ms ? hms(ms) : '—' })); }

function aqi() {
  let newest = 0;
  for (const [id, tl] of aqiTiles) {
    const d = state.get('d/' + id), m = metric(d, 'vn_aqi'), v = num(m);
    if (v === null) {
      setClass(tl.root, 'aqi');
      setText(tl.v, '—'); setText(tl.cat, ''); setText(tl.t, t('wall.noData'));
      continue;
    }
    const c = cat(v);
    const stale = now() - m.t > 15 * 60000;
    setClass(tl.root, 'aqi c' + (c + 1) + (stale ? ' is-stale' : ''));
    setText(tl.v, String(Math.round(v)));
    setText(tl.cat, t('wall.aqi.' + CATS[c].key));
    setText(tl.t, (m.s ? m.s.toUpperCase().replace('PM25', 'PM2.5') + ' · ' : '') + t('wall.updatedLower', { time: hms(m.t) }));
    newest = Math.max(newest, m.t);
    staleMark(tl.root, stale, m.t);
  }
  setUpdated(document.querySelector('.updated[data-for="aqi"]'), newest);
}

function water() {
  const stages = meta.water_stages || [];
  let newest = 0;
  for (const [id, r] of waterRows) {
    const d = state.get('d/' + id), m = metric(d, 'level', 'water_level'), v = num(m);
    if (!r.marks) {
      for (const s of stages) { const mk = el('div', 'mark'); mk.style.left = (100 * s / GAUGE_MAX) + '%'; r.gauge.append(mk); }
      r.marks = true;
    }
    let st = 0;
    stages.forEach((s, i) => { if (v !== null && v > s) st = i + 1; });
    const stale = !!m && now() - m.t > 10 * 60000;
    setClass(r.root, 'water' + (st ? ' s' + st : '') + (stale ? ' is-stale' : ''));
    setText(r.v, v === null ? '—' : v.toFixed(2));
    setText(r.stage, v === null ? t('wall.noData') : (st ? t('wall.water.stage', { n: st }) : t('wall.state.ok')) + ' · ' + hms(m.t));
    const w = v === null ? '0' : Math.min(100, 100 * v / GAUGE_MAX) + '%';
    if (r.fill.style.width !== w) r.fill.style.width = w;
    if (m) { newest = Math.max(newest, m.t); staleMark(r.root, stale, m.t); }
  }
  setUpdated(document.querySelector('.updated[data-for="water"]'), newest);
}

function summary() {
  const pick = (type, names) => {
    const out = [];
    for (const [id, g] of of('g/')) {
      if (g.type !== type) continue;
      const m = metric(state.get('d/' + id), ...names);
      if (m) out.push(m);
    }
    return out;
  };
  const tile = (id, vals, big, sub, newest, maxAgeMs) => {
    const tl = $(id);
    setText(tl.querySelector('.v'), big);
    setParts(tl.querySelector('.sub'), sub);
    setUpdated(tl.querySelector('.updated'), newest);
    staleMark(tl, vals.length === 0 || now() - newest > maxAgeMs, newest);
  };
  const newest = (xs) => xs.reduce((a, m) => Math.max(a, m.t || 0), 0);
  const sum = (xs) => xs.reduce((a, b) => a + b, 0);
  const rain = pick('rainfall', ['rain', 'rainfall']);
  const rv = rain.map(num).filter((x) => x !== null);
  const rmax = rv.length ? Math.max(...rv) : null;
  tile('tile-rain', rain, rmax === null ? '—' : rmax.toFixed(1),
    [rv.length ? t('wall.rain.sub', { avg: (sum(rv) / rv.length).toFixed(1), n: rv.length }) : t('wall.noData')], newest(rain), 10 * 60000);
  const veh = pick('traffic', ['vehicles', 'vehicle_count']), spd = pick('traffic', ['speed', 'avg_speed']);
  const vv = veh.map(num).filter((x) => x !== null), sp = spd.map(num).filter((x) => x !== null);
  tile('tile-traffic', veh, vv.length ? String(Math.round(sum(vv))) : '—',
    [vv.length ? t('wall.traffic.sub', { n: vv.length, speed: sp.length ? (sum(sp) / sp.length).toFixed(0) + ' km/h' : '—' }) : t('wall.noData')],
    newest(veh), 5 * 60000);
  const on = pick('streetlight', ['on']), fault = pick('streetlight', ['fault']);
  const nOn = on.filter((m) => m.b === true).length, nFault = fault.filter((m) => m.b === true).length;
  const total = of('g/').filter(([, g]) => g.type === 'streetlight').length;
  const sub = [t('wall.lights.on', { n: total })];
  if (nFault) sub.push(' · ', [t('wall.lights.faults', { n: nFault })]); else sub.push(' · ' + t('wall.lights.noFault'));
  tile('tile-lights', on, on.length ? String(nOn) : '—', sub, newest(on), 20 * 60000);
}

export function render(ctx) {
  const c = ctx.changed;
  if (ctx.lang || !scaleSpans.length) scale();
  if (!(ctx.second || ctx.lang || c.has('g') || c.has('d') || c.has('meta'))) return;
  aqi();
  water();
  summary();
}
