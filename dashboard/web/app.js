// Control-room wall of Son La City: map, tiles, trends, alerts and feed
// health, live over websocket protocol v2 (docs/websocket.md).
//
// Kept from the first wall: server-time clock, connection indicator with
// jittered back-off, text only through textContent (never HTML), Vietnamese
// names normalised to NFC. Memory stays bounded over days: the DOM is built
// once per registry device and updated in place; charts keep at most their
// window of minute points; alerts show at most MAX_ALERTS rows.
'use strict';

(() => {
  const TZ = 'Asia/Ho_Chi_Minh';
  const HISTORY_HOURS = 6;
  const MAX_ALERTS = 12;
  const STALE_WALL_MS = 60000;      // nothing from the server: the whole wall is stale
  const RECONNECT_MAX_MS = 30000;
  const PING_MS = 10000;
  const CATS = [ // Decision 1459/QĐ-TCMT, Table 1
    { hi: 50, name: 'Tốt', color: '#00e400' }, { hi: 100, name: 'Trung bình', color: '#ffff00' },
    { hi: 150, name: 'Kém', color: '#ff7e00' }, { hi: 200, name: 'Xấu', color: '#ff0000' },
    { hi: 300, name: 'Rất xấu', color: '#8f3f97' }, { hi: Infinity, name: 'Nguy hại', color: '#7e0023' },
  ];
  const STATE_NAMES = { ok: 'Bình thường', warning: 'Cảnh báo', alert: 'Báo động', offline: 'Mất kết nối', stale: 'Chậm dữ liệu', unknown: 'Chưa có dữ liệu' };
  const SEV_NAMES = { warning: 'Cảnh báo', alert: 'Báo động', critical: 'Khẩn cấp' };
  const PARTNERS = { viettel: 'Viettel', vnpt: 'VNPT' };

  const $ = (id) => document.getElementById(id);
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const svgNS = 'http://www.w3.org/2000/svg';
  function sv(tag, attrs) {
    const e = document.createElementNS(svgNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    return e;
  }

  // ---- time (the wall PC's clock may be wrong: frames carry server time) --
  let offset = 0;
  const now = () => Date.now() + offset;
  const fmt = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const fmtHM = new Intl.DateTimeFormat('en-GB', { timeZone: TZ, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const longDate = new Intl.DateTimeFormat('vi-VN', { timeZone: TZ, weekday: 'long', day: '2-digit', month: '2-digit', year: 'numeric' });
  const hms = (ms) => (ms > 0 ? fmt.format(ms) : '—');
  function ago(ms) {
    if (!(ms > 0)) return '—';
    const s = Math.max(0, Math.round((now() - ms) / 1000));
    if (s < 90) return s + ' giây trước';
    if (s < 5400) return Math.round(s / 60) + ' phút trước';
    return hms(ms);
  }
  const nfc = (s) => (typeof s === 'string' ? s.normalize('NFC') : '');
  const shortWard = (w) => nfc(w).replace(/^(Phường|Xã) /, '');

  // ---- model: the wall channel's state ---------------------------------
  const state = new Map(); // key -> value
  let meta = { water_stages: [1.5, 2, 2.5] };
  let dirty = true;
  let lastFrameAt = 0;

  function apply(set, del) {
    for (const k of del || []) state.delete(k);
    for (const k in set || {}) state.set(k, set[k]);
    if (set && set.meta) meta = set.meta;
    dirty = true;
  }

  // ---- websocket protocol v2 --------------------------------------------
  let me = { permissions: [], channels: ['wall'] };
  let ws = null, attempt = 0, retryAt = 0, pingTimer = 0;
  const chan = { wall: { epoch: '', seq: 0, parts: null } };
  let clientId = sessionStorage.getItem('ioc-client');
  if (!clientId) {
    clientId = 'wall-' + Math.random().toString(36).slice(2, 12);
    sessionStorage.setItem('ioc-client', clientId);
  }
  let reloadHistory = false;

  function setConn(cls, text) {
    $('conn').className = 'conn ' + cls;
    $('conn-text').textContent = text;
  }

  function connect() {
    retryAt = 0;
    const url = new URL('ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('v', '2');
    url.searchParams.set('channels', 'wall');
    url.searchParams.set('client', clientId);
    let sock;
    try { sock = new WebSocket(url.href); } catch (e) { retry(''); return; }
    ws = sock;
    sock.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      onMessage(sock, m);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      clearInterval(pingTimer);
      // 4401 credentials ended, 4403 revoked (docs/websocket.md): sign in again.
      if (ev.code === 4401 || ev.code === 4403) { location.assign('/login?next=' + encodeURIComponent(location.pathname)); return; }
      retry(ev.code >= 4000 && ev.reason ? ev.reason : '');
    };
  }

  function send(sock, m) { if (sock.readyState === 1) sock.send(JSON.stringify(m)); }

  function subscribe(sock) {
    const c = chan.wall;
    send(sock, c.epoch ? { op: 'subscribe', ch: 'wall', epoch: c.epoch, seq: c.seq } : { op: 'subscribe', ch: 'wall' });
  }

  function onMessage(sock, m) {
    if (typeof m.server_ms === 'number') offset = m.server_ms - Date.now();
    lastFrameAt = Date.now();
    const c = chan.wall;
    switch (m.type) {
      case 'hello':
        if (m.previous_close && m.previous_close.reason) console.info('previous disconnect: ' + m.previous_close.reason);
        if (c.epoch && m.epoch !== c.epoch) reloadHistory = true; // the server restarted: refill the charts' gap
        subscribe(sock);
        clearInterval(pingTimer);
        pingTimer = setInterval(() => send(sock, { op: 'ping', id: Date.now() }), PING_MS);
        break;
      case 'subscribed':
        attempt = 0;
        setConn('live', 'Trực tuyến');
        break;
      case 'snapshot':
        if (m.ch !== 'wall') return;
        if (m.part === 0) { c.parts = { set: {} }; }
        if (!c.parts) return;
        Object.assign(c.parts.set, m.set);
        if (m.last) {
          state.clear();
          apply(c.parts.set, []);
          c.parts = null;
          c.epoch = m.epoch;
          c.seq = m.seq;
          if (reloadHistory) { reloadHistory = false; loadHistory(); }
        }
        break;
      case 'delta':
        if (m.ch !== 'wall') return;
        if (m.epoch !== c.epoch || m.from !== c.seq + 1) { subscribe(sock); return; } // a gap: resume
        apply(m.set, m.del);
        c.seq = m.seq;
        break;
      case 'heartbeat':
        if (m.seqs && typeof m.seqs.wall === 'number' && m.seqs.wall !== c.seq && !c.parts) subscribe(sock);
        break;
      default:
    }
  }

  function retry(reason) {
    const base = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
    attempt = Math.min(attempt + 1, 16);
    const delay = base / 2 + Math.random() * base / 2;
    retryAt = Date.now() + delay;
    setConn('reconnecting', (reason ? reason + ' · ' : '') + 'kết nối lại…');
    setTimeout(connect, delay);
  }

  // ---- registry-driven DOM (built once per device) ----------------------
  let geo = null;
  let proj = null;
  const dots = new Map();      // device -> svg circle
  const aqiTiles = new Map();  // device -> {root, v, cat, t}
  const waterRows = new Map(); // device -> {root, fill, v, stage, marks}
  let builtFor = '';

  function project(lat, lon) {
    return [(lon - proj.lon0) * proj.kx, (proj.lat1 - lat) * proj.ky];
  }

  function buildMap() {
    const svg = $('map');
    svg.textContent = '';
    if (!geo) return;
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
      const t = sv('text', { x, y: y - 2.2, class: 'ward-label' });
      t.textContent = shortWard(wd.name);
      svg.append(t);
    }
  }

  function buildRegistry() {
    const version = meta.registry + '|' + [...state.keys()].filter((k) => k.startsWith('g/')).length;
    if (version === builtFor || !proj) return;
    builtFor = version;
    const svg = $('map');
    for (const d of dots.values()) d.remove();
    dots.clear();
    const aq = $('aqi-grid'), wl = $('water-list');
    aq.textContent = ''; wl.textContent = '';
    aqiTiles.clear(); waterRows.clear();
    const devs = [...state.entries()].filter(([k]) => k.startsWith('g/')).map(([k, g]) => [k.slice(2), g]);
    devs.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    for (const [id, g] of devs) {
      const [x, y] = project(g.lat, g.lon);
      const c = sv('circle', { cx: x.toFixed(2), cy: y.toFixed(2), r: g.type === 'water_level' || g.type === 'air_quality' ? 1.35 : 1.0, class: 'dev unknown' });
      c.dataset.device = id;
      c.dataset.partner = g.p;
      const title = sv('title', {});
      title.textContent = nfc(g.name) + ' (' + id + ')';
      c.append(title);
      svg.append(c);
      dots.set(id, c);
      if (g.type === 'air_quality') {
        const root = el('div', 'aqi');
        root.dataset.device = id;
        const row = el('div', 'row');
        const v = el('span', 'v', '—'), cat = el('span', 'cat', '');
        row.append(v, cat);
        const t = el('div', 't', '');
        root.append(el('div', 'name', shortWard(g.ward)), row, t);
        aq.append(root);
        aqiTiles.set(id, { root, v, cat, t });
      } else if (g.type === 'water_level') {
        const root = el('div', 'water');
        root.dataset.device = id;
        const gauge = el('div', 'gauge'), fill = el('div', 'fill');
        gauge.append(fill);
        const read = el('div', 'read'), v = el('span', 'v', '—'), u = el('span', 'u', 'm'), stage = el('span', 'stage', '');
        read.append(v, u, stage);
        root.append(el('div', 'name', shortWard(g.ward) + ' · ' + id.replace('water-', '')), gauge, read);
        wl.append(root);
        waterRows.set(id, { root, fill, gauge, v, stage, marks: false });
      }
    }
  }

  // ---- rendering -----------------------------------------------------------
  const num = (m) => (m && typeof m.v === 'number' ? m.v : null);
  const metric = (d, ...names) => { for (const n of names) if (d && d.m && d.m[n]) return d.m[n]; return null; };
  const cat = (aqi) => { for (let i = 0; i < CATS.length; i++) if (aqi <= CATS[i].hi) return i; return CATS.length - 1; };
  const GAUGE_MAX = 3.2;

  function openAlerts() {
    const out = [];
    for (const [k, a] of state) if (k.startsWith('a/') && a.state !== 'resolved') out.push(a);
    return out;
  }

  function deviceState(id, d, alertsByDevice, g) {
    if (d && d.status === 'offline') return 'offline';
    const sev = alertsByDevice.get(id);
    if (sev === 'critical' || sev === 'alert') return 'alert';
    if (sev === 'warning') return 'warning';
    if (d && d.status === 'stale') return 'stale';
    if (d && d.last && now() - d.last > 3 * ((g && g.iv) || 60) * 1000) return 'stale';
    if (!d || !d.last) return d && d.status === 'online' ? 'ok' : 'unknown';
    return 'ok';
  }

  function staleMark(node, stale, since) {
    node.classList.toggle('is-stale', stale);
    if (stale) node.dataset.stale = 'Dữ liệu cũ · ' + (since > 0 ? fmtHM.format(since) : 'chưa có');
  }

  function render() {
    buildRegistry();
    const alerts = openAlerts();
    const byDev = new Map();
    const rank = { warning: 1, alert: 2, critical: 3 };
    for (const a of alerts) {
      if (!a.device_id) continue;
      const cur = byDev.get(a.device_id);
      if (!cur || rank[a.severity] > rank[cur]) byDev.set(a.device_id, a.severity);
    }
    const counts = { ok: 0, warning: 0, alert: 0, offline: 0, stale: 0, unknown: 0 };
    const byPartner = new Map(); // partner -> {online, offline, total}: the feed cards count what the map shows
    for (const [id, c] of dots) {
      const d = state.get('d/' + id), g = state.get('g/' + id);
      const s = deviceState(id, d, byDev, g);
      counts[s]++;
      c.setAttribute('class', 'dev ' + s);
      if (!g) continue;
      let pc = byPartner.get(g.p);
      if (!pc) { pc = { online: 0, offline: 0, total: 0 }; byPartner.set(g.p, pc); }
      pc.total++;
      if (s === 'ok' || s === 'warning' || s === 'alert') pc.online++;
      else if (s === 'offline') pc.offline++;
    }
    $('map-count').textContent = registryLoading() ? 'Đang tải danh mục thiết bị…'
      : dots.size + ' thiết bị · ' + counts.ok + ' bình thường · ' + (counts.warning + counts.alert) + ' cảnh báo · ' + counts.offline + ' mất kết nối';
    const lg = $('legend');
    if (!lg.childElementCount) {
      for (const s of ['ok', 'warning', 'alert', 'offline', 'stale']) {
        const span = el('span', '');
        const i = el('i', '');
        i.style.background = getComputedStyle(document.documentElement).getPropertyValue('--' + (s === 'alert' ? 'critical' : s));
        span.append(i, document.createTextNode(STATE_NAMES[s]));
        lg.append(span);
      }
    }
    // VN_AQI per station
    let newestAqi = 0;
    for (const [id, t] of aqiTiles) {
      const d = state.get('d/' + id), m = metric(d, 'vn_aqi'), v = num(m);
      t.root.className = 'aqi';
      if (v === null) { t.v.textContent = '—'; t.cat.textContent = ''; t.t.textContent = 'Chưa có dữ liệu'; continue; }
      const c = cat(v);
      t.root.classList.add('c' + (c + 1));
      t.v.textContent = String(Math.round(v));
      t.cat.textContent = CATS[c].name;
      t.t.textContent = (m.s ? m.s.toUpperCase().replace('PM25', 'PM2.5') + ' · ' : '') + 'cập nhật ' + hms(m.t);
      newestAqi = Math.max(newestAqi, m.t);
      staleMark(t.root, now() - m.t > 15 * 60000, m.t);
    }
    setUpdated('aqi', newestAqi);
    // water levels against the warning stages
    const stages = meta.water_stages || [];
    let newestW = 0;
    for (const [id, r] of waterRows) {
      const d = state.get('d/' + id), m = metric(d, 'level', 'water_level'), v = num(m);
      if (!r.marks) {
        for (const s of stages) { const mk = el('div', 'mark'); mk.style.left = (100 * s / GAUGE_MAX) + '%'; r.gauge.append(mk); }
        r.marks = true;
      }
      let st = 0;
      stages.forEach((s, i) => { if (v !== null && v > s) st = i + 1; });
      r.root.className = 'water' + (st ? ' s' + st : '');
      r.v.textContent = v === null ? '—' : v.toFixed(2);
      r.stage.textContent = v === null ? 'Chưa có dữ liệu' : (st ? 'Báo động ' + st : 'Bình thường') + ' · ' + hms(m.t);
      r.fill.style.width = v === null ? '0' : Math.min(100, 100 * v / GAUGE_MAX) + '%';
      if (m) { newestW = Math.max(newestW, m.t); staleMark(r.root, now() - m.t > 10 * 60000, m.t); }
    }
    setUpdated('water', newestW);
    summaryTiles();
    renderAlerts(alerts);
    renderFeeds(byPartner);
    renderPipeline();
    renderUnregistered();
    liveCharts();
  }

  function setUpdated(what, ms) {
    const n = document.querySelector('.updated[data-for="' + what + '"]');
    if (n) n.textContent = 'Cập nhật ' + (ms ? hms(ms) : '—');
  }

  function summaryTiles() {
    const pick = (type, names) => {
      const out = [];
      for (const [k, g] of state) {
        if (!k.startsWith('g/') || g.type !== type) continue;
        const m = metric(state.get('d/' + k.slice(2)), ...names);
        if (m) out.push(m);
      }
      return out;
    };
    const tile = (id, vals, big, sub, newest, maxAgeMs) => {
      const t = $(id);
      t.querySelector('.v').textContent = big;
      const s = t.querySelector('.sub');
      s.textContent = '';
      for (const part of sub) s.append(part);
      t.querySelector('.updated').textContent = 'Cập nhật ' + (newest ? hms(newest) : '—');
      staleMark(t, vals.length === 0 || now() - newest > maxAgeMs, newest);
    };
    const newest = (xs) => xs.reduce((a, m) => Math.max(a, m.t || 0), 0);
    const rain = pick('rainfall', ['rain', 'rainfall']);
    const rv = rain.map(num).filter((x) => x !== null);
    const rmax = rv.length ? Math.max(...rv) : null;
    tile('tile-rain', rain, rmax === null ? '—' : rmax.toFixed(1),
      [document.createTextNode(rv.length ? 'cao nhất · TB ' + (rv.reduce((a, b) => a + b, 0) / rv.length).toFixed(1) + ' · ' + rv.length + ' trạm' : 'Chưa có dữ liệu')],
      newest(rain), 10 * 60000);
    const veh = pick('traffic', ['vehicles', 'vehicle_count']), spd = pick('traffic', ['speed', 'avg_speed']);
    const vv = veh.map(num).filter((x) => x !== null), sp = spd.map(num).filter((x) => x !== null);
    tile('tile-traffic', veh, vv.length ? String(Math.round(vv.reduce((a, b) => a + b, 0))) : '—',
      [document.createTextNode(vv.length ? vv.length + ' camera · tốc độ TB ' + (sp.length ? (sp.reduce((a, b) => a + b, 0) / sp.length).toFixed(0) + ' km/h' : '—') : 'Chưa có dữ liệu')],
      newest(veh), 5 * 60000);
    const on = pick('streetlight', ['on']), fault = pick('streetlight', ['fault']);
    const nOn = on.filter((m) => m.b === true).length, nFault = fault.filter((m) => m.b === true).length;
    const total = [...state.keys()].filter((k) => k.startsWith('g/') && state.get(k).type === 'streetlight').length;
    const sub = [document.createTextNode('đang bật / ' + total + ' tủ')];
    if (nFault) { sub.push(document.createTextNode(' · ')); sub.push(el('b', '', nFault + ' lỗi')); } else sub.push(document.createTextNode(' · không lỗi'));
    tile('tile-lights', on, on.length ? String(nOn) : '—', sub, newest(on), 20 * 60000);
  }

  // ---- alerts ticker ------------------------------------------------------
  const alertRows = [];
  function renderAlerts(open) {
    const list = $('alerts');
    const resolved = [];
    for (const [k, a] of state) if (k.startsWith('a/') && a.state === 'resolved') resolved.push(a);
    const rank = { critical: 3, alert: 2, warning: 1 };
    open.sort((a, b) => (a.acked - b.acked) || (rank[b.severity] - rank[a.severity]) || (b.opened - a.opened));
    resolved.sort((a, b) => b.at - a.at);
    const shown = open.concat(resolved).slice(0, MAX_ALERTS);
    $('alert-count').textContent = open.length + ' đang mở · ' + open.filter((a) => !a.acked).length + ' chưa xác nhận';
    while (alertRows.length < Math.min(shown.length, MAX_ALERTS)) {
      const li = el('li', 'alert');
      const sev = el('span', 'sev'), msg = el('span', 'msg'), metaEl = el('span', 'meta'), btn = el('button', 'ack', 'Xác nhận');
      btn.type = 'button';
      btn.addEventListener('click', () => openAck(li.dataset.alert));
      li.append(sev, msg, metaEl, btn);
      list.append(li);
      alertRows.push({ li, sev, msg, meta: metaEl, btn });
    }
    const canAck = me.permissions.includes('alerts.ack');
    alertRows.forEach((r, i) => {
      const a = shown[i];
      r.li.hidden = !a;
      if (!a) return;
      r.li.dataset.alert = a.alert_id;
      r.li.dataset.device = a.device_id || '';
      r.li.className = 'alert' + (a.severity === 'critical' ? ' critical' : a.severity === 'alert' ? ' alert-sev' : '') +
        (a.acked ? ' acked' : '') + (a.state === 'escalated' ? ' escalated' : '') + (a.state === 'resolved' ? ' resolved' : '');
      r.sev.textContent = a.state === 'resolved' ? 'Đã xử lý' : SEV_NAMES[a.severity] || a.severity;
      r.msg.textContent = nfc(a.message);
      let m = 'mở ' + hms(a.opened);
      if (a.state === 'escalated') m += ' · NÂNG CẤP ' + a.level;
      if (a.acked) m += ' · ✔ ' + nfc(a.operator) + (a.note ? ': ' + nfc(a.note) : '');
      if (a.state === 'resolved') m = 'kết thúc ' + hms(a.at);
      r.meta.textContent = m;
      r.btn.hidden = !canAck || a.acked || a.state === 'resolved';
    });
    let none = list.querySelector('.none');
    if (!shown.length && !none) { none = el('li', 'none', '✔ Không có cảnh báo'); list.append(none); }
    if (shown.length && none) none.remove();
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
  // A device on the map, or an alert's device, opens the device page.
  const openDevice = (dev) => { if (dev) location.assign('device.html?id=' + encodeURIComponent(dev)); };
  $('map').addEventListener('click', (ev) => { const d = ev.target.closest('.dev'); if (d) openDevice(d.dataset.device); });
  $('alerts').addEventListener('click', (ev) => { if (!ev.target.closest('button')) { const li = ev.target.closest('li'); if (li) openDevice(li.dataset.device); } });

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
      $('ack-error').textContent = (b && b.message) || ('Lỗi ' + res.status);
    })).catch(() => { $('ack-error').textContent = 'Không gửi được, thử lại'; });
  });

  // ---- feeds, pipeline, unregistered -------------------------------------
  const feedRows = new Map();
  // No registry known yet (the server says so): nobody can be called unregistered.
  const registryLoading = () => !meta.registry || meta.registry_loading === true;

  function renderFeeds(byPartner) {
    const box = $('feeds');
    for (const [k, f] of state) {
      if (!k.startsWith('f/') || k === 'f/?') continue;
      const p = k.slice(2);
      let r = feedRows.get(p);
      if (!r) {
        const root = el('div', 'feed'), pn = el('span', 'pn ' + (PARTNERS[p] ? p : 'other'), PARTNERS[p] || p), st = el('span', 'st'), nums = el('div', 'nums');
        root.append(pn, st, nums);
        box.append(root);
        r = { root, st, nums };
        feedRows.set(p, r);
      }
      // Device counts as the map shows them (the server's are the same rule, but a tick older).
      const pc = (byPartner && byPartner.get(p)) || { online: f.online, offline: f.offline, total: f.total };
      const silent = f.status === 'silent';
      r.root.classList.toggle('silent', silent);
      r.st.className = 'st ' + (silent ? 'silent' : 'live');
      r.st.textContent = silent ? 'MẤT TÍN HIỆU' : 'HOẠT ĐỘNG';
      r.nums.textContent = '';
      const line1 = el('div', ''), line2 = el('div', '');
      line1.append(document.createTextNode('Bản tin cuối '), el('b', '', ago(f.last)), document.createTextNode(' · '), el('b', '', String(f.rate)), document.createTextNode(' chỉ số/phút'));
      line2.append(document.createTextNode('Lỗi '), el('b', '', f.dl + '/phút (' + f.dl_pct + '%)'), document.createTextNode(' · thiết bị '),
        el('b', '', pc.online + '/' + pc.total), document.createTextNode(' trực tuyến' + (pc.offline ? ', ' + pc.offline + ' mất kết nối' : '')));
      r.root.dataset.online = String(pc.online);
      r.root.dataset.total = String(pc.total);
      r.root.dataset.partner = p;
      r.nums.append(line1, line2);
    }
  }

  function chip(id, cls, text) {
    const c = $(id);
    c.className = 'chip ' + cls;
    c.querySelector('span').textContent = text;
  }
  function renderPipeline() {
    const p = state.get('p');
    if (!p) return;
    chip('p-ch', p.ch_up ? 'good' : 'bad', p.ch_up ? '✔ ' + p.ch_ms + ' ms' : '✖ không kết nối');
    const storeLag = p.stored_ms ? (now() - p.stored_ms) / 1000 : null;
    chip('p-store', storeLag === null ? 'warn' : storeLag > 60 ? 'bad' : storeLag > 15 ? 'warn' : 'good',
      storeLag === null ? '—' : 'trễ ' + storeLag.toFixed(0) + ' s');
    const liveLag = p.live_ms ? (now() - p.live_ms) / 1000 : null;
    chip('p-live', liveLag === null ? 'warn' : liveLag > 60 ? 'bad' : liveLag > 15 ? 'warn' : 'good',
      liveLag === null ? '—' : liveLag < 1 ? '< 1 s' : liveLag.toFixed(0) + ' s');
    chip('p-dl', p.dl > 10 ? 'bad' : p.dl > 1 ? 'warn' : 'good', p.dl + '/phút' + (p.stream_lag >= 0 ? ' · lag ' + Math.round(p.stream_lag) : ''));
  }

  const sameRegistered = (id) => { const g = state.get('g/' + id), u = state.get('u/' + id); return !!(g && u && g.p === u.p); };
  function renderUnregistered() {
    // A device of the registry is never listed, even if an entry was made before the registry arrived.
    const ids = registryLoading() ? [] : [...state.keys()].filter((k) => k.startsWith('u/') && !sameRegistered(k.slice(2))).map((k) => k.slice(2));
    $('unreg').hidden = ids.length === 0;
    ids.sort();
    $('unreg-list').textContent = ids.length + ': ' + ids.slice(0, 6).join(', ') + (ids.length > 6 ? ' …' : '');
  }

  // ---- trend charts: history from ClickHouse, continued live ------------
  const SERIES = ['aqi', 'water', 'rain', 'traffic'];
  const charts = {}; // id -> {plot, points: Map(ms -> [avg, max])}

  function makeChart(id) {
    const host = document.querySelector('#chart-' + id + ' .plot');
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize);
    const opts = {
      width: host.clientWidth, height: Math.max(60, host.clientHeight), legend: { show: false }, cursor: { show: false },
      scales: { x: { time: true } },
      axes: [
        { stroke: '#93a6c4', grid: { stroke: '#1a2a44', width: 1 }, ticks: { stroke: '#1a2a44' }, font: Math.round(0.55 * rem) + 'px sans-serif', size: 1.3 * rem,
          values: (u, vals) => vals.map((v) => fmtHM.format(v * 1000)) },
        { stroke: '#93a6c4', grid: { stroke: '#1a2a44', width: 1 }, ticks: { stroke: '#1a2a44' }, font: Math.round(0.55 * rem) + 'px sans-serif', size: 2.2 * rem },
      ],
      series: [{}, { stroke: '#38bdf8', width: 2, fill: 'rgba(56,189,248,0.12)', points: { show: false } }, { stroke: '#f97316', width: 1.5, dash: [6, 4], points: { show: false } }],
    };
    if (id === 'water') {
      opts.hooks = { draw: [(u) => {
        const ctx = u.ctx;
        ctx.save();
        (meta.water_stages || []).forEach((s, i) => {
          const y = u.valToPos(s, 'y', true);
          if (y < u.bbox.top || y > u.bbox.top + u.bbox.height) return;
          ctx.strokeStyle = ['#facc15', '#f97316', '#ef4444'][i] || '#ef4444';
          ctx.setLineDash([4, 4]);
          ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
        });
        ctx.restore();
      }] };
      opts.scales.y = { range: (u, lo, hi) => [0, Math.max(hi || 0, (meta.water_stages || [3])[meta.water_stages.length - 1] || 3) * 1.1] };
    }
    const plot = new uPlot(opts, [[], [], []], host);
    charts[id] = { plot, points: new Map(), dirty: true };
  }

  function chartData(c) {
    const cut = now() - HISTORY_HOURS * 3600000;
    for (const t of c.points.keys()) if (t < cut) c.points.delete(t); // bounded: the window only
    const xs = [...c.points.keys()].sort((a, b) => a - b);
    return [xs.map((t) => t / 1000), xs.map((t) => c.points.get(t)[0]), xs.map((t) => c.points.get(t)[1])];
  }

  // History of the charts from ClickHouse. On a fresh start the backfill is
  // still being stored when the page loads: a series whose history does not
  // yet reach back an hour, or not yet up to the live minutes, is asked
  // again (every 5 s, for five minutes).
  const historyTries = {};
  function loadHistory() { for (const id of SERIES) { historyTries[id] = 0; loadSeries(id); } }
  function loadSeries(id) {
    fetch('api/history?metric=' + id + '&hours=' + HISTORY_HOURS, { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : null))
      .then((h) => {
        if (!h || !charts[id]) return;
        const c = charts[id];
        const liveFrom = liveStart(id);
        // One point per minute: history up to where the live minutes begin.
        for (const [t, avg, mx] of h.points) if (liveFrom === null || t < liveFrom) c.points.set(t, [avg, mx]);
        c.dirty = true;
        // Short: no point an hour old yet, or a gap up to the live minutes (the backfill was still being stored).
        const live = liveFrom === null ? now() - (meta.trend_window_ms || 900000) : liveFrom;
        const short = !h.points.length || h.points[0][0] > now() - 3600000 || h.points[h.points.length - 1][0] < live - 180000;
        if (short && ++historyTries[id] < 60) setTimeout(() => loadSeries(id), 5000);
      })
      .catch(() => {});
  }

  function liveStart(id) {
    let first = null;
    for (const k of state.keys()) {
      if (!k.startsWith('t/' + id + '/')) continue;
      const t = +k.slice(k.lastIndexOf('/') + 1);
      if (first === null || t < first) first = t;
    }
    return first;
  }

  function liveCharts() {
    for (const [k, b] of state) {
      if (!k.startsWith('t/')) continue;
      const parts = k.split('/');
      const c = charts[parts[1]];
      if (!c) continue;
      const t = +parts[2], prev = c.points.get(t);
      if (!prev || prev[0] !== b.avg || prev[1] !== b.max) { c.points.set(t, [b.avg, b.max]); c.dirty = true; }
    }
    for (const id of SERIES) {
      const c = charts[id];
      if (c && c.dirty) { c.plot.setData(chartData(c)); c.dirty = false; }
    }
  }

  function sizeCharts() {
    for (const id of SERIES) {
      const c = charts[id];
      const host = document.querySelector('#chart-' + id + ' .plot');
      if (c) c.plot.setSize({ width: host.clientWidth, height: Math.max(60, host.clientHeight) });
    }
  }
  new ResizeObserver(sizeCharts).observe($('wall'));

  // ---- clock, staleness, render loop --------------------------------------
  let dateText = '';
  function tick() {
    const t = now();
    $('clock-time').textContent = hms(t);
    const dt = longDate.format(t);
    if (dt !== dateText) { dateText = dt; $('clock-date').textContent = dt; }
    if (retryAt) $('conn-text').textContent = 'Mất kết nối · thử lại sau ' + Math.max(0, Math.ceil((retryAt - Date.now()) / 1000)) + ' giây';
    const silentFor = lastFrameAt ? Date.now() - lastFrameAt : 0;
    const stale = lastFrameAt > 0 && silentFor > STALE_WALL_MS;
    $('stale-banner').hidden = !stale;
    if (stale) $('stale-sub').textContent = 'Không nhận được dữ liệu từ ' + fmt.format(lastFrameAt + offset) + ' · đang kết nối lại';
    dirty = true;
    setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
  }

  function frame() {
    if (dirty) { dirty = false; render(); }
    requestAnimationFrame(frame);
  }

  function scale() {
    const s = $('aqi-scale');
    CATS.forEach((c, i) => {
      const span = el('span', '', c.name + ' ' + (i === 0 ? '0' : CATS[i - 1].hi + 1) + (c.hi === Infinity ? '+' : '–' + c.hi));
      span.style.background = c.color;
      if (i >= 4) span.style.color = '#fff';
      s.append(span);
    });
  }

  // What the browser tests read (dashboard/browser_test.go).
  window.__wall = {
    epoch: () => chan.wall.epoch,
    seq: () => chan.wall.seq,
    points: (id) => (charts[id] ? [...charts[id].points.keys()].sort((a, b) => a - b) : []),
  };

  // ---- start ----------------------------------------------------------------
  scale();
  tick();
  Promise.all([
    fetch('geo/sonla.json').then((r) => r.json()).then((g) => { geo = g; buildMap(); }),
    fetch('api/me', { credentials: 'same-origin', cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).then((m) => { if (m) me = Object.assign(me, m); }).catch(() => {}),
  ]).catch(() => {}).then(() => {
    for (const id of SERIES) makeChart(id);
    loadHistory();
    connect();
    requestAnimationFrame(frame);
  });
})();
