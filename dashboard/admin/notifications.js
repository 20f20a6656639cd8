// /admin/notifications: what the notifier sent, retried, failed, dropped,
// held back (quiet hours) or cancelled, from GET /api/admin/notifications.
// Text in Vietnamese or English from the one translation table
// (/lib/strings.js, section "notifications"); the table is drawn again when
// the language changes. Every value reaches the page through textContent,
// never as HTML.
import * as i18n from '/lib/i18n.js';

const t = i18n.t;
const $ = (sel) => document.querySelector(sel);
let last = [];
let status = () => ''; // the status line, in the current language

// word translates a value the server sends (notice, status, severity); an
// unknown one is shown as it came.
const word = (key, v, params) => (v && i18n.has(key + v) ? t(key + v, params) : v);

function say(fn) {
  status = fn;
  $('#status').textContent = fn();
}

function render() {
  const tbody = $('#notifications tbody');
  tbody.replaceChildren();
  const fmt = (ms) => new Date(ms).toLocaleString(i18n.locale(), { timeZone: 'Asia/Ho_Chi_Minh' });
  for (const n of last) {
    const tr = document.createElement('tr');
    tr.dataset.key = n.idempotency_key;
    const notice = word('notifications.notice.', n.notice, { n: n.repeat });
    for (const v of [fmt(n.at), n.channel + ' (' + n.channel_kind + ')', n.alert_id, notice, word('wall.sev.', n.severity), n.ward,
      word('notifications.st.', n.status), n.attempt || '', n.target, n.error]) {
      const td = document.createElement('td');
      td.textContent = v === undefined || v === null ? '' : String(v);
      tr.appendChild(td);
    }
    tr.className = 'st-' + n.status;
    tbody.appendChild(tr);
  }
}

async function load() {
  const params = new URLSearchParams();
  for (const [k, v] of new FormData($('#filter'))) if (v) params.set(k, v);
  say(() => t('notifications.loading'));
  try {
    const res = await fetch('/api/admin/notifications?' + params, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(data.message || data.error || res.statusText);
    last = data.notifications || [];
    render();
    say(() => t('notifications.count', { n: last.length }));
  } catch (e) {
    say(() => t('notifications.failed', { error: e.message }));
  }
}

$('#filter').addEventListener('submit', (e) => { e.preventDefault(); load(); });
const alert = new URLSearchParams(location.search).get('alert');
if (alert) $('#filter [name=alert]').value = alert;
i18n.bindToggle($('#lang'));
i18n.onChange(() => { render(); $('#status').textContent = status(); });
i18n.start();
load();
