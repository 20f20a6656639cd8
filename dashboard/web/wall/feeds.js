// The feeds panel: one card per partner feed (live or silent, last message,
// readings and dead letters per minute, devices online as the map counts
// them), keyed by partner and updated in place.
import { $, el, setClass, setParts, setText, toggleClass } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { of } from './store.js';
import { ago } from './time.js';

const PARTNERS = { viettel: 'Viettel', vnpt: 'VNPT' };
const cards = new Map();

// render: byPartner is the map's count of devices per partner.
export function render(ctx, byPartner) {
  const c = ctx.changed;
  if (!(ctx.second || ctx.lang || c.has('f') || c.has('d') || c.has('g') || c.has('a'))) return;
  const box = $('feeds');
  for (const [p, f] of of('f/')) {
    if (p === '?') continue;
    let r = cards.get(p);
    if (!r) {
      const root = el('div', 'feed'), pn = el('span', 'pn ' + (PARTNERS[p] ? p : 'other'), PARTNERS[p] || p), st = el('span', 'st'), nums = el('div', 'nums');
      const line1 = el('div', ''), line2 = el('div', '');
      nums.append(line1, line2);
      root.append(pn, st, nums);
      root.dataset.partner = p;
      box.append(root);
      r = { root, st, line1, line2 };
      cards.set(p, r);
    }
    // Device counts as the map shows them (the server's are the same rule, but a tick older).
    const pc = (byPartner && byPartner.get(p)) || { online: f.online, offline: f.offline, total: f.total };
    const silent = f.status === 'silent';
    toggleClass(r.root, 'silent', silent);
    setClass(r.st, 'st ' + (silent ? 'silent' : 'live'));
    setText(r.st, silent ? t('wall.feed.silent') : t('wall.feed.live'));
    setParts(r.line1, [t('wall.feed.last') + ' ', [ago(f.last)], ' · ', [String(f.rate)], ' ' + t('wall.feed.perMin')]);
    setParts(r.line2, [t('wall.feed.errors') + ' ', [t('wall.perMin', { n: f.dl }) + ' (' + f.dl_pct + '%)'], ' · ' + t('wall.feed.devices') + ' ',
      [pc.online + '/' + pc.total], ' ' + t('wall.feed.online') + (pc.offline ? ', ' + t('wall.feed.offline', { n: pc.offline }) : '')]);
    if (r.root.dataset.online !== String(pc.online)) r.root.dataset.online = String(pc.online);
    if (r.root.dataset.total !== String(pc.total)) r.root.dataset.total = String(pc.total);
  }
}
