// Administration page: accounts, wall kiosk tokens and the audit log, in
// Vietnamese or English from the one translation table (/lib/i18n.js,
// section "admin"). Every value reaches the page through textContent,
// never as HTML; every change carries the session's CSRF token
// (X-CSRF-Token). Tables are drawn again when the language changes.
import * as i18n from '/lib/i18n.js';

const t = i18n.t;
let csrf = '';
let me = null;
const $ = (sel) => document.querySelector(sel);
const fmt = (ms) => (ms ? new Date(ms).toLocaleString(i18n.locale(), { timeZone: 'Asia/Ho_Chi_Minh' }) : '');
const status = (text) => { $('#status').textContent = text; };

async function api(method, path, body) {
  const opts = { method, headers: { 'Accept': 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.headers['X-CSRF-Token'] = csrf;
    opts.body = JSON.stringify(body);
  } else if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = csrf;
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || data.reason || res.statusText);
  return data;
}

function row(tbody, cells, action) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    td.textContent = c === undefined || c === null ? '' : String(c);
    tr.appendChild(td);
  }
  const td = document.createElement('td');
  if (action) {
    const b = document.createElement('button');
    b.textContent = action.label;
    b.addEventListener('click', action.run);
    td.appendChild(b);
  }
  tr.appendChild(td);
  tbody.appendChild(tr);
}

const role = (r) => (i18n.has('admin.role.' + r) ? t('admin.role.' + r) : r);

let users = [], kiosks = [], audit = [];

function drawUsers() {
  const tbody = $('#users tbody');
  tbody.replaceChildren();
  for (const u of users) {
    row(tbody, [u.username, u.display_name, role(u.role), u.disabled ? t('admin.disabled') : t('admin.active'), fmt(u.updated_ms) + ' · ' + u.updated_by], {
      label: u.disabled ? t('admin.enable') : t('admin.disable'),
      run: () => api('POST', '/api/admin/users', { username: u.username, disabled: !u.disabled }).then(loadUsers).catch((e) => status(e.message)),
    });
  }
}

function drawKiosks() {
  const tbody = $('#kiosks tbody');
  tbody.replaceChildren();
  for (const k of kiosks) {
    row(tbody, [k.id, k.name, k.created_by, fmt(k.expires_ms), k.revoked ? t('admin.revoked') : t('admin.active')], k.revoked ? null : {
      label: t('admin.revoke'),
      run: () => api('POST', '/api/admin/kiosks/' + encodeURIComponent(k.id) + '/revoke').then(loadKiosks).catch((e) => status(e.message)),
    });
  }
}

function drawAudit() {
  const tbody = $('#audit tbody');
  tbody.replaceChildren();
  for (const e of audit) row(tbody, [fmt(Date.parse(e.at)), e.actor, e.actor_role, e.action, e.target, e.outcome, e.reason, e.remote_addr]);
}

function drawMe() { if (me) $('#me').textContent = me.name + ' · ' + role(me.role); }

async function loadUsers() { users = await api('GET', '/api/admin/users'); drawUsers(); }
async function loadKiosks() { kiosks = await api('GET', '/api/admin/kiosks'); drawKiosks(); }
async function loadAudit(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
  q.set('limit', '300');
  audit = await api('GET', '/api/admin/audit?' + q.toString());
  drawAudit();
}

$('#user-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const f = new FormData(ev.target);
  const body = { username: f.get('username'), role: f.get('role') };
  if (f.get('display_name')) body.display_name = f.get('display_name');
  if (f.get('password')) body.password = f.get('password');
  api('POST', '/api/admin/users', body).then(() => { ev.target.reset(); status(t('admin.saved')); return loadUsers(); })
    .catch((e) => status(e.message));
});

$('#kiosk-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const name = new FormData(ev.target).get('name');
  api('POST', '/api/admin/kiosks', { name }).then((r) => {
    $('#kiosk-link').hidden = false;
    $('#kiosk-url').textContent = location.origin + r.url;
    ev.target.reset();
    return loadKiosks();
  }).catch((e) => status(e.message));
});

$('#audit-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  loadAudit(Object.fromEntries(new FormData(ev.target))).catch((e) => status(e.message));
});

i18n.bindToggle($('#lang'));
i18n.onChange(() => { drawMe(); drawUsers(); drawKiosks(); drawAudit(); });
i18n.start();

api('GET', '/api/me').then((m) => {
  me = m;
  csrf = me.csrf || '';
  $('#logout-csrf').value = csrf;
  drawMe();
  return Promise.all([loadUsers(), loadKiosks(), loadAudit()]);
}).catch((e) => status(e.message));
