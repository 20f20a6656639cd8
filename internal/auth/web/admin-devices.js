// Administration page, device registry section (#devices-section): list,
// add, edit and retire devices with their own alarm levels and maintenance
// window. Changes go to /api/admin/devices (audited; every role applies
// them without a restart). Text in Vietnamese or English from the one
// translation table (/lib/strings.js, section "adminDevices"; admin.js
// binds the language switch); values reach the page through textContent
// only; the CSRF token comes from /api/me.
import * as i18n from '/lib/i18n.js';

const t = i18n.t;
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
const fmt = (ms) => new Date(ms).toLocaleString(i18n.locale(), { timeZone: 'Asia/Ho_Chi_Minh' });

function levelsText(alarms) {
  return (alarms || []).map((a) => a.rule + '=' + a.levels.map((l) => `${l.name}:${l.value}:${l.severity}`).join(',')).join('; ');
}

function parseLevels(text) {
  const out = [];
  for (const part of text.split(';')) {
    if (!part.trim()) continue;
    const eq = part.indexOf('=');
    if (eq < 1) throw new Error(t('adminDevices.badLevels'));
    const alarm = { rule: part.slice(0, eq).trim(), levels: [] };
    for (const l of part.slice(eq + 1).split(',')) {
      const f = l.split(':');
      if (f.length !== 3 || f[1].trim() === '' || Number.isNaN(Number(f[1]))) throw new Error(t('adminDevices.badLevels'));
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
    const state = d.retired ? t('adminDevices.retired') : d.in_maintenance ? t('adminDevices.inMaint') : t('adminDevices.active');
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
      edit.textContent = t('adminDevices.edit');
      edit.addEventListener('click', () => startEdit(d));
      const retire = document.createElement('button');
      retire.type = 'button';
      retire.name = 'retire';
      retire.textContent = t('adminDevices.retire');
      retire.addEventListener('click', () => {
        if (!window.confirm(t('adminDevices.confirmRetire', { id: d.device_id }))) return;
        api('POST', '/api/admin/devices/' + encodeURIComponent(d.device_id) + '/retire', { note: field('note').value })
          .then(() => { say(t('adminDevices.retiredMsg', { id: d.device_id })); return load(); })
          .catch((e) => say(e.message));
      });
      td.append(edit, retire);
    }
    tr.appendChild(td);
    tbody.appendChild(tr);
  }
}

// saveLabel names the form's button: Add, or Save while editing; the
// language switch (data-i18n) keeps it.
function saveLabel(key) {
  field('save').dataset.i18n = key;
  field('save').textContent = key === 'adminDevices.save' ? t('adminDevices.save') : t('adminDevices.add');
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
  saveLabel('adminDevices.save');
  field('cancel').hidden = false;
}

function resetForm() {
  form.reset();
  field('device_id').readOnly = false;
  field('base_version').value = '0';
  saveLabel('adminDevices.add');
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
  req.then((r) => { say(t('adminDevices.saved', { id: r.device.device_id })); resetForm(); return load(); }).catch((e) => say(e.message));
});
field('cancel').addEventListener('click', resetForm);

i18n.onChange(render);

fetch('/api/me', { credentials: 'same-origin' })
  .then((r) => r.json())
  .then((me) => { csrf = me.csrf || ''; return load(); })
  .catch((e) => say(e.message));
