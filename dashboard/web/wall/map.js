// The map panel: the 12 wards, every registered device as a dot coloured
// by its state, the legend, the count line, and the devices that report
// without being registered. Dots are built once per registry version and
// keyed by device id; a render only changes the classes that changed.
import { $, el, nfc, setAttr, setHidden, setText, sv } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { meta, of, registryLoading, state } from './store.js';
import { now } from './time.js';

export const STATES = ['ok', 'warning', 'alert', 'offline', 'stale', 'unknown'];

let geo = null;
let proj = null;
const dots = new Map(); // device -> svg circle
let builtFor = '';
const onRebuild = [];

// registryChanged(fn): fn runs after the devices were rebuilt (tiles use it).
export function registryChanged(fn) { onRebuild.push(fn); }

export function project(lat, lon) {
  return [(lon - proj.lon0) * proj.kx, (proj.lat1 - lat) * proj.ky];
}

const shortWard = (w) => nfc(w).replace(/^(Phường|Xã) /, '');

export function setGeo(g) {
  geo = g;
  const svg = $('map');
  svg.textContent = '';
  let lat0 = 90, lat1 = -90, lon0 = 180, lon1 = -180;
  for (const [la, lo] of geo.outline) { lat0 = Math.min(lat0, la); lat1 = Math.max(lat1, la); lon0 = Math.min(lon0, lo); lon1 = Math.max(lon1, lo); }
  const k = 1000; // units per degree latitude
  proj = { lon0, lat1, ky: k, kx: k * Math.cos((lat0 + lat1) / 2 * Math.PI / 180) };
  const [w, h] = project(lat0, lon1);
  svg.setAttribute('viewBox', `-1 -1 ${w + 2} ${h + 2}`);
  const pts = (arr) => arr.map(([la, lo]) => project(la, lo).map((x) => x.toFixed(2)).join(',')).join(' ');
  for (const wd of geo.wards) {
    const p = sv('polygon', { points: pts(wd.polygon), class: 'ward ' + wd.kind });
    p.dataset.ward = nfc(wd.name);
    svg.append(p);
  }
  svg.append(sv('polygon', { points: pts(geo.outline), class: 'outline' }));
  svg.append(sv('polyline', { points: pts(geo.river.line), class: 'river' }));
  const rl = geo.river.line[1];
  const [rx, ry] = project(rl[0], rl[1]);
  const rt = sv('text', { x: rx + 1, y: ry - 1, class: 'river-label' });
  rt.textContent = geo.river.name;
  svg.append(rt);
  for (const wd of geo.wards) {
    const [x, y] = project(wd.label[0], wd.label[1]);
    const tx = sv('text', { x, y: y - 2.2, class: 'ward-label' });
    tx.textContent = shortWard(wd.name);
    svg.append(tx);
  }
}

// devices is the registry, sorted by id: [[id, g]].
export function devices() {
  const devs = of('g/');
  devs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  return devs;
}

function buildRegistry() {
  const version = meta.registry + '|' + of('g/').length;
  if (version === builtFor || !proj) return false;
  builtFor = version;
  const svg = $('map');
  for (const d of dots.values()) d.remove();
  dots.clear();
  for (const [id, g] of devices()) {
    const [x, y] = project(g.lat, g.lon);
    const c = sv('circle', { cx: x.toFixed(2), cy: y.toFixed(2), r: g.type === 'water_level' || g.type === 'air_quality' ? 1.35 : 1.0, class: 'dev unknown' });
    c.dataset.device = id;
    c.dataset.partner = g.p;
    // A device on the map opens its page (device.html).
    c.addEventListener('click', () => location.assign('device.html?id=' + encodeURIComponent(id)));
    const title = sv('title', {});
    title.textContent = nfc(g.name) + ' (' + id + ')';
    c.append(title);
    svg.append(c);
    dots.set(id, c);
  }
  for (const fn of onRebuild) fn();
  return true;
}

function deviceState(d, sev, g) {
  if (d && d.status === 'offline') return 'offline';
  if (sev === 'critical' || sev === 'alert') return 'alert';
  if (sev === 'warning') return 'warning';
  if (d && d.status === 'stale') return 'stale';
  if (d && d.last && now() - d.last > 3 * ((g && g.iv) || 60) * 1000) return 'stale';
  if (!d || !d.last) return d && d.status === 'online' ? 'ok' : 'unknown';
  return 'ok';
}

let byPartner = new Map();
const legend = new Map(); // state -> text node holder

function renderLegend() {
  const lg = $('legend');
  if (!legend.size) {
    for (const s of ['ok', 'warning', 'alert', 'offline', 'stale', 'maintenance']) {
      const span = el('span', '');
      const i = el('i', '');
      i.style.background = getComputedStyle(document.documentElement).getPropertyValue('--' + (s === 'alert' ? 'critical' : s));
      const txt = el('span', '');
      span.append(i, txt);
      lg.append(span);
      legend.set(s, txt);
    }
  }
  for (const [s, txt] of legend) setText(txt, t('wall.state.' + s));
}

// render returns, per partner, the devices online, offline and in total
// as the map shows them (the feed cards show the same counts).
export function render(ctx) {
  const rebuilt = buildRegistry();
  const c = ctx.changed;
  if (!(rebuilt || ctx.second || ctx.lang || c.has('g') || c.has('d') || c.has('a') || c.has('meta') || c.has('u'))) return byPartner;
  const rank = { warning: 1, alert: 2, critical: 3 };
  const byDev = new Map();
  for (const [, a] of of('a/')) {
    if (a.state === 'resolved' || !a.device_id) continue;
    const cur = byDev.get(a.device_id);
    if (!cur || rank[a.severity] > rank[cur]) byDev.set(a.device_id, a.severity);
  }
  const counts = { ok: 0, warning: 0, alert: 0, offline: 0, stale: 0, unknown: 0, maintenance: 0 };
  byPartner = new Map();
  for (const [id, dot] of dots) {
    const d = state.get('d/' + id), g = state.get('g/' + id);
    const s = deviceState(d, byDev.get(id), g);
    counts[s]++;
    // A registry maintenance window (its alerts are silenced): shown as
    // such on the map; the partner cards count its state underneath.
    const maint = !!(g && g.mt > now());
    if (maint) counts.maintenance++;
    setAttr(dot, 'class', 'dev ' + (maint ? 'maintenance' : s));
    if (!g) continue;
    let pc = byPartner.get(g.p);
    if (!pc) { pc = { online: 0, offline: 0, total: 0 }; byPartner.set(g.p, pc); }
    pc.total++;
    if (s === 'ok' || s === 'warning' || s === 'alert') pc.online++;
    else if (s === 'offline') pc.offline++;
  }
  setText($('map-count'), registryLoading() ? t('wall.map.loading')
    : t('wall.map.count', { n: dots.size, ok: counts.ok, warn: counts.warning + counts.alert, off: counts.offline }));
  renderLegend();
  renderUnregistered();
  return byPartner;
}

const sameRegistered = (id) => { const g = state.get('g/' + id), u = state.get('u/' + id); return !!(g && u && g.p === u.p); };
function renderUnregistered() {
  // A device of the registry is never listed, even if an entry was made before the registry arrived.
  const ids = registryLoading() ? [] : of('u/').map(([id]) => id).filter((id) => !sameRegistered(id));
  setHidden($('unreg'), ids.length === 0);
  ids.sort();
  setText($('unreg-list'), ids.length + ': ' + ids.slice(0, 6).join(', ') + (ids.length > 6 ? ' …' : ''));
}
