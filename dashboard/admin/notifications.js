// /admin/notifications: what the notifier sent, retried, failed, dropped,
// held back (quiet hours) or cancelled, from GET /api/admin/notifications.
// Self-contained, with its own Vietnamese and English strings; every value
// reaches the page through textContent, never as HTML.
'use strict';

(() => {
  const STRINGS = {
    vi: {
      title: 'Thông báo đã gửi', back: 'Quản trị', any: 'mọi trạng thái', filter: 'Lọc', when: 'Thời điểm', channel: 'Kênh',
      alert: 'Cảnh báo', notice: 'Loại', severity: 'Mức độ', ward: 'Địa bàn', status: 'Trạng thái', attempt: 'Lần',
      target: 'Nơi nhận', error: 'Lỗi', other: 'English', loading: 'Đang tải…', count: (n) => n + ' bản ghi', failed: 'Không tải được: ',
      notices: { open: 'mở', escalated: 'nâng mức', repeat: 'nhắc lại', acknowledged: 'đã xác nhận', resolved: 'đã kết thúc' },
      statuses: { sent: 'đã gửi', retry: 'thử lại', failed: 'thất bại', dropped: 'bỏ (hàng đợi đầy)', deferred: 'hoãn (giờ yên tĩnh)', cancelled: 'huỷ' },
    },
    en: {
      title: 'Notifications', back: 'Administration', any: 'any status', filter: 'Filter', when: 'When', channel: 'Channel',
      alert: 'Alert', notice: 'Notice', severity: 'Severity', ward: 'Ward', status: 'Status', attempt: 'Attempt',
      target: 'Recipient', error: 'Error', other: 'Tiếng Việt', loading: 'Loading…', count: (n) => n + ' records', failed: 'Could not load: ',
      notices: { open: 'open', escalated: 'escalated', repeat: 'repeat', acknowledged: 'acknowledged', resolved: 'resolved' },
      statuses: { sent: 'sent', retry: 'retry', failed: 'failed', dropped: 'dropped (queue full)', deferred: 'deferred (quiet hours)', cancelled: 'cancelled' },
    },
  };
  let lang = (localStorage.getItem('ioc.lang') || 'vi') === 'en' ? 'en' : 'vi';
  const $ = (sel) => document.querySelector(sel);
  const T = () => STRINGS[lang];
  let last = [];

  function translate() {
    document.documentElement.lang = lang;
    for (const el of document.querySelectorAll('[data-t]')) el.textContent = T()[el.dataset.t];
    for (const el of document.querySelectorAll('[data-ph]')) el.placeholder = T()[el.dataset.ph];
    $('#lang').textContent = T().other;
    document.title = T().title + ' — IOC Sơn La';
  }

  function render() {
    const tbody = $('#notifications tbody');
    tbody.replaceChildren();
    const fmt = (ms) => new Date(ms).toLocaleString(lang === 'vi' ? 'vi-VN' : 'en-GB', { timeZone: 'Asia/Ho_Chi_Minh' });
    for (const n of last) {
      const tr = document.createElement('tr');
      const notice = (T().notices[n.notice] || n.notice) + (n.notice === 'repeat' ? ' #' + n.repeat : '');
      for (const v of [fmt(n.at), n.channel + ' (' + n.channel_kind + ')', n.alert_id, notice, n.severity, n.ward,
        T().statuses[n.status] || n.status, n.attempt || '', n.target, n.error]) {
        const td = document.createElement('td');
        td.textContent = v === undefined || v === null ? '' : String(v);
        tr.appendChild(td);
      }
      tr.className = 'st-' + n.status;
      tbody.appendChild(tr);
    }
    $('#status').textContent = T().count(last.length);
  }

  async function load() {
    const params = new URLSearchParams();
    for (const [k, v] of new FormData($('#filter'))) if (v) params.set(k, v);
    $('#status').textContent = T().loading;
    try {
      const res = await fetch('/api/admin/notifications?' + params, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
      const data = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(data.message || data.error || res.statusText);
      last = data.notifications || [];
      render();
    } catch (e) {
      $('#status').textContent = T().failed + e.message;
    }
  }

  $('#filter').addEventListener('submit', (e) => { e.preventDefault(); load(); });
  $('#lang').addEventListener('click', () => {
    lang = lang === 'vi' ? 'en' : 'vi';
    localStorage.setItem('ioc.lang', lang);
    translate();
    render();
  });
  const alert = new URLSearchParams(location.search).get('alert');
  if (alert) $('#filter [name=alert]').value = alert;
  translate();
  load();
})();
