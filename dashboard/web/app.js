// Control-room wall: the latest value per device and metric, grouped by
// ward, updated live over /ws. No framework and no build step.
//
// Memory stays bounded over days of running: every (device, metric) has one
// DOM cell that is updated in place; at most MAX_DEVICES device rows exist,
// and devices silent for a day give their place up to waiting ones. All data
// reaches the page through textContent and dataset, never as HTML.
'use strict';

(() => {
  const TZ = 'Asia/Ho_Chi_Minh';
  const STALE_MS = 5 * 60 * 1000;
  const SWEEP_MS = 5000;
  const MAX_DEVICES = 2000;
  const MAX_METRICS_PER_DEVICE = 32;
  const MAX_HIDDEN_TRACKED = 100000;
  const EVICT_AFTER_MS = 24 * 60 * 60 * 1000;
  const PAGE_MS = 15000;
  const MANUAL_PAUSE_MS = 60000;
  const RECONNECT_MAX_MS = 30000;
  const UNREGISTERED = '';

  const WARDS = [
    'Phường Chiềng Lề', 'Phường Tô Hiệu', 'Phường Quyết Thắng', 'Phường Quyết Tâm',
    'Phường Chiềng Sinh', 'Phường Chiềng An', 'Phường Chiềng Cơi',
    'Xã Chiềng Cọ', 'Xã Chiềng Đen', 'Xã Chiềng Ngần', 'Xã Chiềng Xôm', 'Xã Hua La',
  ];

  const PARTNERS = { viettel: 'Viettel', vnpt: 'VNPT' };

  // Display names for metric names whose meaning is unambiguous; anything
  // else is shown as sent. The raw name is always in data-metric and title.
  const METRIC_LABELS = {
    pm1: 'PM1', pm25: 'PM2.5', pm10: 'PM10', aqi: 'AQI', co: 'CO', co2: 'CO₂', no2: 'NO₂',
    so2: 'SO₂', o3: 'O₃', temperature: 'Nhiệt độ', humidity: 'Độ ẩm', noise: 'Tiếng ồn',
    pressure: 'Áp suất', water_level: 'Mực nước', rainfall: 'Lượng mưa', wind_speed: 'Tốc độ gió',
    battery: 'Pin', status: 'Trạng thái', vehicle_count: 'Lưu lượng xe', avg_speed: 'Tốc độ TB',
    power: 'Công suất',
  };

  const UNITS = {
    'ug/m3': 'µg/m³', 'mg/m3': 'mg/m³', 'Cel': '°C', 'degC': '°C', 'm3': 'm³', 'm3/s': 'm³/s',
    '%RH': '%', 'm/s': 'm/s',
  };

  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  });
  const longDate = new Intl.DateTimeFormat('vi-VN', {
    timeZone: TZ, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric',
  });

  function split(ms) {
    const o = {};
    for (const p of parts.formatToParts(ms)) o[p.type] = p.value;
    return o;
  }
  function hms(p) { return p.hour + ':' + p.minute + ':' + p.second; }

  // timeText is HH:mm:ss in Vietnam time, with the day in front when the
  // observation is not from today.
  function timeText(ms) {
    if (typeof ms !== 'number' || !isFinite(ms) || ms <= 0) return '—';
    const p = split(ms);
    if (p.day + p.month + p.year !== today) return p.day + '/' + p.month + ' ' + hms(p);
    return hms(p);
  }
  let today = ''; // day, month and year of serverNow(), kept by tick()

  // The wall PC's clock may be wrong; every frame carries the server time.
  let offset = 0;
  function serverNow() { return Date.now() + offset; }

  const $ = (id) => document.getElementById(id);
  const wall = $('wall');

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // ---- state ---------------------------------------------------------------

  const wards = new Map();   // NFC ward name -> ward
  const devices = new Map(); // device_id -> device
  const cells = new Map();   // device_id + '\0' + metric -> cell
  const hidden = new Set();  // device ids not shown because of MAX_DEVICES
  let staleTotal = 0;
  let lastUpdateMs = 0;

  function addWard(name, fixed) {
    const card = el('section', 'ward');
    card.dataset.ward = name;
    const head = el('h2', 'ward-head');
    const title = name === UNREGISTERED ? 'Thiết bị chưa đăng ký (unregistered)' : name;
    head.append(el('span', 'ward-name', title));
    const count = el('span', 'ward-count');
    head.append(count);
    const list = el('div', 'devices');
    const empty = el('p', 'empty', 'Chưa có dữ liệu · no data');
    card.append(head, list, empty);
    if (name === UNREGISTERED) card.classList.add('unregistered');
    const w = { name, title, card, head, list, count, empty, fixed, n: 0, stale: 0 };
    const unreg = wards.get(UNREGISTERED);
    wall.insertBefore(card, unreg ? unreg.card : null);
    wards.set(name, w);
    wardCount(w);
    return w;
  }

  function wardCount(w) {
    let t = w.n > 0 ? w.n + ' thiết bị' : '';
    if (w.stale > 0) t += ' · ' + w.stale + ' stale';
    w.count.textContent = t;
    w.count.classList.toggle('has-stale', w.stale > 0);
    w.empty.hidden = w.n > 0;
    w.card.classList.toggle('is-empty', w.n === 0);
  }

  function wardFor(name) {
    return wards.get(name) || addWard(name, false);
  }

  function wardName(r) {
    return typeof r.ward === 'string' ? r.ward.normalize('NFC') : UNREGISTERED;
  }

  function placeRow(w, d) {
    // Rows are kept in device id order.
    let before = null;
    for (const row of w.list.children) {
      if (row.dataset.device > d.id) { before = row; break; }
    }
    w.list.insertBefore(d.row, before);
    d.row.dataset.wardLabel = w.title;
    w.n++;
    if (d.stale) w.stale++;
    wardCount(w);
    scheduleLayout();
  }

  function unplaceRow(d) {
    const w = wards.get(d.ward);
    d.row.remove();
    d.row.classList.remove('cont');
    scheduleLayout();
    if (!w) return;
    w.n--;
    if (d.stale) w.stale--;
    if (w.n === 0 && !w.fixed) {
      w.card.remove();
      wards.delete(w.name);
    } else {
      wardCount(w);
    }
  }

  function setPartner(d, partner) {
    d.partner = partner;
    const known = Object.prototype.hasOwnProperty.call(PARTNERS, partner);
    d.badge.textContent = known ? PARTNERS[partner] : partner;
    d.badge.className = 'badge ' + (known ? 'p-' + partner : 'p-other');
    d.row.dataset.partner = partner;
  }

  function addDevice(r) {
    if (devices.size >= MAX_DEVICES) {
      if (hidden.size < MAX_HIDDEN_TRACKED) hidden.add(r.device_id);
      return null;
    }
    hidden.delete(r.device_id);
    const row = el('article', 'device');
    row.dataset.device = r.device_id;
    const head = el('div', 'device-head');
    const badge = el('span', 'badge');
    const more = el('span', 'more-metrics');
    more.hidden = true;
    const staleLabel = el('span', 'stale-label', 'stale');
    staleLabel.hidden = true;
    head.append(el('span', 'device-id', r.device_id), badge, more, staleLabel);
    const metrics = el('div', 'metrics');
    row.append(head, metrics);
    const d = {
      id: r.device_id, ward: wardName(r), row, badge, more, staleLabel, metrics, partner: '',
      newest: 0, stale: false, nMetrics: 0, hiddenMetrics: null,
    };
    setPartner(d, String(r.partner || ''));
    devices.set(d.id, d);
    placeRow(wardFor(d.ward), d);
    return d;
  }

  function removeDevice(d) {
    unplaceRow(d);
    if (d.stale) staleTotal--;
    for (const c of d.metrics.children) cells.delete(d.id + '\0' + c.dataset.metric);
    devices.delete(d.id);
  }

  function addCell(d, r) {
    if (d.nMetrics >= MAX_METRICS_PER_DEVICE) {
      if (!d.hiddenMetrics) d.hiddenMetrics = new Set();
      if (d.hiddenMetrics.size < 1000) d.hiddenMetrics.add(r.metric);
      d.more.hidden = false;
      d.more.textContent = '+' + d.hiddenMetrics.size + ' chỉ số ẩn';
      return null;
    }
    const box = el('div', 'metric');
    box.dataset.metric = r.metric;
    const label = Object.prototype.hasOwnProperty.call(METRIC_LABELS, r.metric) ? METRIC_LABELS[r.metric] : r.metric;
    const name = el('div', 'metric-name', label);
    name.title = r.metric;
    const reading = el('div', 'reading');
    const value = el('span', 'value');
    const unit = el('span', 'unit');
    reading.append(value, unit);
    const time = el('div', 'time');
    box.append(name, reading, time);
    let before = null;
    for (const m of d.metrics.children) {
      if (m.dataset.metric > r.metric) { before = m; break; }
    }
    d.metrics.insertBefore(box, before);
    d.nMetrics++;
    scheduleLayout();
    const c = { box, value, unit, time, t: -Infinity, text: null, unitText: null, kind: 0, flip: false };
    cells.set(d.id + '\0' + r.metric, c);
    return c;
  }

  function formatValue(r) {
    switch (r.kind) {
      case 1: {
        const v = Number(r.v);
        return isFinite(v) ? v.toFixed(1) : '—';
      }
      case 2: return typeof r.vs === 'string' && r.vs !== '' ? r.vs : '—';
      case 3: return r.vb === true ? 'Bật' : 'Tắt';
      default: return '?';
    }
  }

  const KIND_CLASS = { 1: 'num', 2: 'text', 3: 'bool' };

  function apply(r) {
    if (!r || typeof r.device_id !== 'string' || typeof r.metric !== 'string' || r.device_id === '') return;
    const t = typeof r.t === 'number' ? r.t : 0;
    let d = devices.get(r.device_id);
    if (!d) {
      d = addDevice(r);
      if (!d) return;
    } else if (t >= d.newest) {
      const ward = wardName(r);
      if (ward !== d.ward) { // the registry moved it
        unplaceRow(d);
        d.ward = ward;
        placeRow(wardFor(ward), d);
      }
      if (r.partner && r.partner !== d.partner) setPartner(d, String(r.partner));
    }
    const k = d.id + '\0' + r.metric;
    let c = cells.get(k);
    if (!c) {
      c = addCell(d, r);
      if (!c) return;
    } else if (t < c.t) {
      return; // older than what is shown (e.g. /api/latest after the socket)
    }
    c.t = t;
    const text = formatValue(r);
    if (text !== c.text) {
      c.value.textContent = text;
      if (c.kind !== r.kind) {
        c.kind = r.kind;
        c.box.classList.remove('num', 'text', 'bool');
        if (KIND_CLASS[r.kind]) c.box.classList.add(KIND_CLASS[r.kind]);
      }
      if (r.kind === 3) c.value.classList.toggle('on', r.vb === true);
      if (r.kind === 2) {
        c.value.title = text;
        scheduleLayout(); // a longer text may take a second line
      }
      if (c.text !== null) {
        // Two identical animations under different names: swapping the
        // class restarts the flash without forcing a layout.
        c.flip = !c.flip;
        c.value.classList.toggle('flash-a', c.flip);
        c.value.classList.toggle('flash-b', !c.flip);
      }
      c.text = text;
    }
    const u = typeof r.u === 'string' ? (UNITS[r.u] || r.u) : '';
    if (u !== c.unitText) {
      c.unit.textContent = u;
      c.unitText = u;
    }
    c.time.textContent = timeText(t);
    if (t > d.newest) {
      d.newest = t;
      setStale(d, serverNow() - t > STALE_MS);
    }
  }

  function setStale(d, stale) {
    if (d.stale === stale) return;
    d.stale = stale;
    d.row.classList.toggle('stale', stale);
    d.staleLabel.hidden = !stale;
    staleTotal += stale ? 1 : -1;
    const w = wards.get(d.ward);
    if (w) {
      w.stale += stale ? 1 : -1;
      wardCount(w);
    }
  }

  // sweep marks devices silent for STALE_MS and, when devices wait for a
  // place on the wall, removes those silent for a day.
  function sweep() {
    const now = serverNow();
    for (const d of devices.values()) setStale(d, now - d.newest > STALE_MS);
    if (hidden.size > 0) {
      let free = hidden.size;
      for (const d of [...devices.values()]) {
        if (free === 0) break;
        if (now - d.newest > EVICT_AFTER_MS) { removeDevice(d); free--; }
      }
    }
    summary();
  }

  function summary() {
    let t = devices.size + ' thiết bị · ' + cells.size + ' chỉ số';
    if (staleTotal > 0) t += ' · ' + staleTotal + ' stale (> 5 phút)';
    $('summary').textContent = t;
    const h = $('hidden');
    h.hidden = hidden.size === 0;
    if (hidden.size > 0) {
      const n = hidden.size >= MAX_HIDDEN_TRACKED ? '≥ ' + hidden.size : String(hidden.size);
      h.textContent = 'Ẩn ' + n + ' thiết bị (giới hạn ' + MAX_DEVICES + ') · hidden';
    }
  }

  function handleFrame(f) {
    if (!f || typeof f !== 'object' || !Array.isArray(f.readings)) return;
    if (typeof f.server_ms === 'number' && f.server_ms > 0) offset = f.server_ms - Date.now();
    for (const r of f.readings) apply(r);
    if (f.readings.length > 0 && f.server_ms > lastUpdateMs) {
      lastUpdateMs = f.server_ms;
      $('last-update').textContent = timeText(lastUpdateMs);
    }
    summary();
  }

  // ---- connection ----------------------------------------------------------

  let ws = null;
  let attempt = 0;
  let retryAt = 0;

  function setConn(state, text) {
    const c = $('conn');
    c.className = 'conn ' + state;
    $('conn-text').textContent = text;
  }

  function reconnectText() {
    const s = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
    return 'Mất kết nối, thử lại sau ' + s + ' giây · reconnecting';
  }

  function connect() {
    retryAt = 0;
    if (attempt > 0) setConn('reconnecting', 'Đang kết nối lại… · reconnecting');
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let sock;
    try {
      sock = new WebSocket(url.href);
    } catch (e) {
      retry();
      return;
    }
    ws = sock;
    sock.onmessage = (ev) => {
      let f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      handleFrame(f);
      if (f && f.type === 'snapshot') {
        attempt = 0;
        setConn('live', 'Trực tuyến · connected');
      }
    };
    sock.onclose = () => {
      if (ws !== sock) return;
      ws = null;
      retry();
    };
  }

  // retry waits 1, 2, 4 … 30 s (with jitter, so a restarted server is not
  // hit by every wall at once) and connects again.
  function retry() {
    const base = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
    attempt = Math.min(attempt + 1, 16);
    const delay = base / 2 + Math.random() * base / 2;
    retryAt = Date.now() + delay;
    setConn('reconnecting', reconnectText());
    setTimeout(connect, delay);
  }

  // ---- clock and paging ----------------------------------------------------

  let dateText = '';
  function tick() {
    const now = serverNow();
    const p = split(now);
    $('clock-time').textContent = hms(p);
    const dt = longDate.format(now);
    if (dt !== dateText) {
      dateText = dt;
      $('clock-date').textContent = dt;
    }
    if (p.day + p.month + p.year !== today) {
      // Past midnight every time shown is from another day: say which.
      today = p.day + p.month + p.year;
      for (const c of cells.values()) c.time.textContent = timeText(c.t);
      if (lastUpdateMs) $('last-update').textContent = timeText(lastUpdateMs);
    }
    if (retryAt) $('conn-text').textContent = reconnectText();
    $('last-update').classList.toggle('old', lastUpdateMs > 0 && now - lastUpdateMs > 60000);
    setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  // When the wards do not fit on one screen, the columns overflow to the
  // right; the wall shows one screenful at a time and turns the page every
  // PAGE_MS. Arrow keys turn it by hand and pause the rotation for a minute.
  let page = 0;
  let pausedUntil = 0;
  // A ward card that does not fit in what is left of a column continues in
  // the next one; the first device row of each continuation is marked so
  // that CSS repeats the ward's name above it. This runs when rows or cells
  // come or go or a text value changes (it may wrap), never on a number.
  let layoutTimer = 0;
  function scheduleLayout() {
    if (!layoutTimer) layoutTimer = setTimeout(relayout, 250);
  }
  function relayout() {
    layoutTimer = 0;
    for (const w of wards.values()) w.card.classList.remove('break-before');
    // Each pass measures everything first and then changes classes. A label
    // or break moves what follows it, which may push another card over a
    // column edge; the next pass sees that. A pass with nothing to change
    // costs one layout.
    for (let pass = 0; pass < 10; pass++) {
      const breaks = [];
      const marks = [];
      for (const w of wards.values()) {
        let prev = w.head.getBoundingClientRect().left;
        let first = true;
        for (const row of w.list.children) {
          const left = row.getBoundingClientRect().left;
          const moved = Math.abs(left - prev) > 50; // another column
          prev = left;
          if (first && moved) breaks.push(w.card); // title alone at a column foot
          const cont = moved && !first;
          first = false;
          if (row.classList.contains('cont') !== cont) marks.push(row);
        }
      }
      if (breaks.length === 0 && marks.length === 0) break;
      for (const card of breaks) card.classList.add('break-before');
      for (const row of marks) row.classList.toggle('cont');
      // Chromium may keep stale positions for the fragments of a column
      // after several rows changed height at once; make it lay out anew.
      wall.classList.add('reflow');
      void wall.offsetWidth;
      wall.classList.remove('reflow');
    }
    showPage(page);
  }

  // Runs between layout and paint, so a resized wall never shows a frame
  // with labels in the wrong places.
  new ResizeObserver(() => relayout()).observe(wall);
  if (document.fonts) document.fonts.ready.then(scheduleLayout);

  function pages() {
    const gap = parseFloat(getComputedStyle(wall).columnGap) || 0;
    const step = wall.clientWidth + gap;
    return { step, n: Math.max(1, Math.ceil((wall.scrollWidth + gap) / step - 0.02)) };
  }
  function showPage(p) {
    const { step, n } = pages();
    const next = ((p % n) + n) % n;
    if (next !== page || Math.abs(wall.scrollLeft - next * step) > 1) {
      wall.scrollTo({ left: next * step, behavior: 'instant' });
    }
    page = next;
    const ind = $('page');
    ind.hidden = n === 1;
    ind.textContent = 'Trang ' + (page + 1) + '/' + n + ' · page';
  }
  function turnPage() {
    if (Date.now() >= pausedUntil) showPage(page + 1);
    else showPage(page);
  }
  document.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowRight' || e.key === 'PageDown') showPage(page + 1);
    else if (e.key === 'ArrowLeft' || e.key === 'PageUp') showPage(page - 1);
    else return;
    pausedUntil = Date.now() + MANUAL_PAUSE_MS;
  });

  // ---- start ---------------------------------------------------------------

  for (const name of WARDS) addWard(name, true);
  addWard(UNREGISTERED, true);
  tick();
  // The snapshot over HTTP fills the wall without waiting for the socket;
  // readings older than those already shown are ignored, so the order in
  // which the two arrive does not matter.
  fetch('api/latest', { cache: 'no-store' })
    .then((res) => (res.ok ? res.json() : null))
    .then(handleFrame)
    .catch(() => {});
  connect();
  setInterval(sweep, SWEEP_MS);
  setInterval(turnPage, PAGE_MS);
})();
