// Administration page, device registry section (#devices-section): list,
// add, edit and retire devices with their own alarm levels and maintenance
// window. Changes go to /api/admin/devices (audited; every role applies
// them without a restart). Self-contained: its own strings (vi and en),
// its own CSRF token from /api/me; values reach the page through
// textContent only.
const STRINGS = {
  vi: {
    title: 'Thiết bị', id: 'mã', partner: 'đối tác', type: 'loại', ward: 'phường/xã', name: 'tên', interval: 'chu kỳ (s)',
    levels: 'ngưỡng riêng', maintenance: 'bảo trì', state: 'trạng thái', from: 'bảo trì từ', to: 'đến', add: 'Thêm',
    save: 'Lưu', cancel: 'Huỷ', edit: 'Sửa', retire: 'Ngừng', active: 'hoạt động', retired: 'đã ngừng',
    inMaint: 'đang bảo trì', saved: 'Đã lưu thiết bị', retiredMsg: 'Đã ngừng thiết bị', confirmRetire: 'Ngừng thiết bị',
    levelsHint: 'water_level=Báo động 1:3.0:warning,Báo động 2:3.5:alert; water_rise=Lên nhanh:0.4:alert',
    note: 'ghi chú', badLevels: 'Ngưỡng không đúng dạng quy_tắc=Tên:giá_trị:mức,…',
  },
  en: {
    title: 'Devices', id: 'id', partner: 'partner', type: 'type', ward: 'ward', name: 'name', interval: 'interval (s)',
    levels: 'own levels', maintenance: 'maintenance', state: 'state', from: 'maintenance from', to: 'to', add: 'Add',
    save: 'Save', cancel: 'Cancel', edit: 'Edit', retire: 'Retire', active: 'active', retired: 'retired',
    inMaint: 'in maintenance', saved: 'Device saved', retiredMsg: 'Device retired', confirmRetire: 'Retire device',
    levelsHint: 'water_level=Báo động 1:3.0:warning,Báo động 2:3.5:alert; water_rise=Lên nhanh:0.4:alert',
    note: 'note', badLevels: 'Levels must read rule=Name:value:severity,…',
  },
};
// The page is bilingual: every label reads "tiếng Việt · English".
const t = (k) => (STRINGS.vi[k] === STRINGS.en[k] ? STRINGS.vi[k] : STRINGS.vi[k] + ' · ' + STRINGS.en[k]);

const section = document.getElementById('devices-section');
const form = document.getElementById('device-form');
const tbody = section.querySelector('#devices tbody');
const say = (text) => { document.getElementById('devices-status').textContent = text; };
// Form fields by name (form.name would be the form's own name).
const field = (name) => form.elements.namedItem(name);
let csrf = '';
let devices = [];

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (method !== 'GET') {
    opts.headers['X-CSRF-Token'] = csrf;
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body || {});
  }
  const res = await fetch(path, opts);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

const pad = (n) => String(n).padStart(2, '0');
// datetime-local values are in the browser's time zone.
const toLocal = (ms) => {
  if (!ms) return '';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
};
const fmt = (ms) => new Date(ms).toLocaleString('vi-VN', { timeZone: 'Asia/Ho_Chi_Minh' });

function levelsText(alarms) {
  return (alarms || []).map((a) => a.rule + '=' + a.levels.map((l) => `${l.name}:${l.value}:${l.severity}`).join(',')).join('; ');
}

function parseLevels(text) {
  const out = [];
  for (const part of text.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq < 1) throw new Error(t('badLevels'));
    const alarm = { rule: part.slice(0, eq).trim(), levels: [] };
    for (const l of part.slice(eq + 1).split(',')) {
      const f = l.split(':');
      if (f.length !== 3 || f[1].trim() === '' || Number.isNaN(Number(f[1]))) throw new Error(t('badLevels'));
      alarm.levels.push({ name: f[0].trim(), value: Number(f[1]), severity: f[2].trim() });
    }
    out.push(alarm);
  }
  return out;
}

function render() {
  tbody.replaceChildren();
  for (const d of devices) {
    const tr = document.createElement('tr');
    tr.dataset.device = d.device_id;
    const windows = (d.maintenance || []).map((w) => fmt(w.from_ms) + ' → ' + fmt(w.to_ms) + (w.note ? ' (' + w.note + ')' : '')).join('; ');
    const state = d.retired ? t('retired') : d.in_maintenance ? t('inMaint') : t('active');
    for (const v of [d.device_id, d.partner, d.type, d.ward, d.name, d.interval_s, levelsText(d.alarms), windows, state]) {
      const td = document.createElement('td');
      td.textContent = v === undefined || v === null ? '' : String(v);
      tr.appendChild(td);
    }
    const td = document.createElement('td');
    if (!d.retired) {
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.name = 'edit';
      edit.textContent = t('edit');
      edit.addEventListener('click', () => startEdit(d));
      const retire = document.createElement('button');
      retire.type = 'button';
      retire.name = 'retire';
      retire.textContent = t('retire');
      retire.addEventListener('click', () => {
        if (!window.confirm(t('confirmRetire') + ' ' + d.device_id + '?')) return;
        api('POST', '/api/admin/devices/' + encodeURIComponent(d.device_id) + '/retire', { note: field('note').value })
          .then(() => { say(t('retiredMsg') + ': ' + d.device_id); return load(); })
          .catch((e) => say(e.message));
      });
      td.append(edit, retire);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

function startEdit(d) {
  field('device_id').value = d.device_id;
  field('device_id').readOnly = true;
  for (const k of ['partner', 'type', 'ward', 'name', 'lat', 'lon', 'interval_s']) form[k].value = d[k];
  field('levels').value = levelsText(d.alarms);
  const w = (d.maintenance || [])[0];
  field('maint_from').value = w ? toLocal(w.from_ms) : '';
  field('maint_to').value = w ? toLocal(w.to_ms) : '';
  field('note').value = '';
  field('base_version').value = String(d.version || 0);
  field('save').textContent = t('save');
  field('cancel').hidden = false;
}

function resetForm() {
  form.reset();
  field('device_id').readOnly = false;
  field('base_version').value = '0';
  field('save').textContent = t('add');
  field('cancel').hidden = true;
}

async function load() {
  const data = await api('GET', '/api/admin/devices');
  devices = data.devices || [];
  if (!field('type').options.length) {
    for (const ty of data.types || []) field('type').append(new Option(ty, ty));
  }
  render();
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  let body;
  try {
    body = {
      device_id: field('device_id').value.trim(), partner: field('partner').value.trim(), type: field('type').value,
      ward: field('ward').value.trim(), name: field('name').value.trim(), lat: Number(field('lat').value), lon: Number(field('lon').value),
      interval_s: Number(field('interval_s').value), alarms: parseLevels(field('levels').value), note: field('note').value,
      base_version: Number(field('base_version').value),
    };
  } catch (e) {
    say(e.message);
    return;
  }
  if (field('maint_from').value && field('maint_to').value) {
    body.maintenance = [{ from_ms: new Date(field('maint_from').value).getTime(), to_ms: new Date(field('maint_to').value).getTime(), note: field('note').value }];
  }
  const editing = field('device_id').readOnly;
  const req = editing ? api('PUT', '/api/admin/devices/' + encodeURIComponent(body.device_id), body) : api('POST', '/api/admin/devices', body);
  req.then((r) => { say(t('saved') + ': ' + r.device.device_id); resetForm(); return load(); }).catch((e) => say(e.message));
});
field('cancel').addEventListener('click', resetForm);

for (const el of section.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
const placeholders = { device_id: 'id', partner: 'partner', ward: 'ward', name: 'name', lat: 'lat', lon: 'lon', interval_s: 'interval', levels: 'levelsHint', note: 'note' };
for (const [field, key] of Object.entries(placeholders)) form[field].placeholder = t(key);
field('save').textContent = t('add');

fetch('/api/me', { credentials: 'same-origin' })
  .then((r) => r.json())
  .then((me) => { csrf = me.csrf || ''; return load(); })
  .catch((e) => say(e.message));
