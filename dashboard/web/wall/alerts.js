// The alerts panel: open alerts first (unacknowledged, then by severity and
// age), then the recently resolved, at most MAX_ALERTS rows kept and reused;
// the acknowledgement form posts to /api/alerts/{id}/ack.
import { $, el, nfc, setClass, setHidden, setText } from '../lib/dom.js';
import { has, t } from '../lib/i18n.js';
import { of, state } from './store.js';
import { hms } from './time.js';

const MAX_ALERTS = 12;
const rows = [];
let me = { permissions: [], kind: '' };
let none = null;

export function setMe(m) { me = m; }

export function render(ctx) {
  if (!(ctx.lang || ctx.changed.has('a') || ctx.me)) return;
  const list = $('alerts');
  const open = [], resolved = [];
  for (const [, a] of of('a/')) (a.state === 'resolved' ? resolved : open).push(a);
  const rank = { critical: 3, alert: 2, warning: 1 };
  open.sort((a, b) => (a.acked - b.acked) || (rank[b.severity] - rank[a.severity]) || (b.opened - a.opened));
  resolved.sort((a, b) => b.at - a.at);
  const shown = open.concat(resolved).slice(0, MAX_ALERTS);
  setText($('alert-count'), t('wall.alerts.count', { open: open.length, unacked: open.filter((a) => !a.acked).length }));
  while (rows.length < shown.length) {
    const li = el('li', 'alert');
    const sev = el('span', 'sev'), msg = el('span', 'msg'), metaEl = el('span', 'meta'), btn = el('button', 'ack');
    btn.type = 'button';
    btn.addEventListener('click', () => openAck(li.dataset.alert));
    li.append(sev, msg, metaEl, btn);
    list.append(li);
    rows.push({ li, sev, msg, meta: metaEl, btn });
  }
  const canAck = (me.permissions || []).includes('alerts.ack');
  rows.forEach((r, i) => {
    const a = shown[i];
    setHidden(r.li, !a);
    if (!a) return;
    if (r.li.dataset.alert !== a.alert_id) r.li.dataset.alert = a.alert_id;
    if (r.li.dataset.device !== (a.device_id || '')) r.li.dataset.device = a.device_id || '';
    setClass(r.li, 'alert' + (a.severity === 'critical' ? ' critical' : a.severity === 'alert' ? ' alert-sev' : '') +
      (a.acked ? ' acked' : '') + (a.state === 'escalated' ? ' escalated' : '') + (a.state === 'resolved' ? ' resolved' : ''));
    setText(r.sev, a.state === 'resolved' ? t('wall.alerts.resolved') : has('wall.sev.' + a.severity) ? t('wall.sev.' + a.severity) : a.severity);
    setText(r.msg, nfc(a.message));
    let m = t('wall.alerts.opened', { time: hms(a.opened) });
    if (a.state === 'escalated') m += ' · ' + t('wall.alerts.escalated', { n: a.level });
    if (a.acked) m += ' · ✔ ' + nfc(a.operator) + (a.note ? ': ' + nfc(a.note) : '');
    if (a.state === 'resolved') m = t('wall.alerts.ended', { time: hms(a.at) });
    setText(r.meta, m);
    setText(r.btn, t('wall.alerts.ack'));
    setHidden(r.btn, !canAck || a.acked || a.state === 'resolved');
  });
  if (!shown.length && !none) { none = el('li', 'none'); list.append(none); }
  if (shown.length && none) { none.remove(); none = null; }
  if (none) setText(none, '✔ ' + t('wall.alerts.none'));
}

let ackFor = '';
function openAck(id) {
  const a = state.get('a/' + id);
  if (!a) return;
  ackFor = id;
  $('ack-msg').textContent = nfc(a.message);
  $('ack-operator').value = me.kind === 'anonymous' ? '' : (me.name || '');
  $('ack-operator').disabled = me.kind !== 'anonymous';
  $('ack-note').value = '';
  $('ack-error').textContent = '';
  $('ack-form').hidden = false;
  $('ack-note').focus();
}

export function bindAckForm() {
  // An alert's device opens the device page (the map's dots do too).
  $('alerts').addEventListener('click', (ev) => {
    if (ev.target.closest('button')) return;
    const li = ev.target.closest('li');
    if (li && li.dataset.device) location.assign('device.html?id=' + encodeURIComponent(li.dataset.device));
  });
  $('ack-cancel').addEventListener('click', () => { $('ack-form').hidden = true; });
  $('ack-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const headers = { 'Content-Type': 'application/json' };
    if (me.csrf) headers['X-CSRF-Token'] = me.csrf;
    fetch('api/alerts/' + encodeURIComponent(ackFor) + '/ack', {
      method: 'POST', headers, credentials: 'same-origin',
      body: JSON.stringify({ operator: $('ack-operator').value, note: $('ack-note').value }),
    }).then((res) => res.json().then((b) => {
      if (res.ok) { $('ack-form').hidden = true; return; }
      $('ack-error').textContent = (b && b.message) || t('wall.ack.error', { n: res.status });
    })).catch(() => { $('ack-error').textContent = t('wall.ack.failed'); });
  });
}
