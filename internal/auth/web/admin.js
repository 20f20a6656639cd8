// Administration page: accounts, wall kiosk tokens and the audit log.
// Every value reaches the page through textContent, never as HTML; every
// change carries the session's CSRF token (X-CSRF-Token).
'use strict';

(() => {
  let csrf = '';
  const $ = (sel) => document.querySelector(sel);
  const fmt = (ms) => ms ? new Date(ms).toLocaleString('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' }) : '';
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

  async function loadUsers() {
    const tbody = $('#users tbody');
    tbody.replaceChildren();
    for (const u of await api('GET', '/api/admin/users')) {
      row(tbody, [u.username, u.display_name, u.role, u.disabled ? 'khoá · disabled' : 'hoạt động · active', fmt(u.updated_ms) + ' · ' + u.updated_by], {
        label: u.disabled ? 'Mở · enable' : 'Khoá · disable',
        run: () => api('POST', '/api/admin/users', { username: u.username, disabled: !u.disabled }).then(loadUsers).catch((e) => status(e.message)),
      });
    }
  }

  async function loadKiosks() {
    const tbody = $('#kiosks tbody');
    tbody.replaceChildren();
    for (const k of await api('GET', '/api/admin/kiosks')) {
      row(tbody, [k.id, k.name, k.created_by, fmt(k.expires_ms), k.revoked ? 'thu hồi · revoked' : 'hoạt động · active'], k.revoked ? null : {
        label: 'Thu hồi · revoke',
        run: () => api('POST', '/api/admin/kiosks/' + encodeURIComponent(k.id) + '/revoke').then(loadKiosks).catch((e) => status(e.message)),
      });
    }
  }

  async function loadAudit(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v) q.set(k, v);
    q.set('limit', '300');
    const tbody = $('#audit tbody');
    tbody.replaceChildren();
    for (const e of await api('GET', '/api/admin/audit?' + q.toString())) {
      row(tbody, [fmt(Date.parse(e.at)), e.actor, e.actor_role, e.action, e.target, e.outcome, e.reason, e.remote_addr]);
    }
  }

  $('#user-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    const body = { username: f.get('username'), role: f.get('role') };
    if (f.get('display_name')) body.display_name = f.get('display_name');
    if (f.get('password')) body.password = f.get('password');
    api('POST', '/api/admin/users', body).then(() => { ev.target.reset(); status('Đã lưu · saved'); return loadUsers(); })
      .catch((e) => status(e.message));
  });

  $('#kiosk-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = new FormData(ev.target).get('name');
    api('POST', '/api/admin/kiosks', { name }).then((r) => {
      const p = $('#kiosk-link');
      p.hidden = false;
      p.textContent = 'Chỉ hiện một lần · shown once: ' + location.origin + r.url;
      ev.target.reset();
      return loadKiosks();
    }).catch((e) => status(e.message));
  });

  $('#audit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    loadAudit(Object.fromEntries(new FormData(ev.target))).catch((e) => status(e.message));
  });

  api('GET', '/api/me').then((me) => {
    csrf = me.csrf || '';
    $('#logout-csrf').value = csrf;
    $('#me').textContent = me.name + ' · ' + me.role;
    return Promise.all([loadUsers(), loadKiosks(), loadAudit()]);
  }).catch((e) => status(e.message));
})();
