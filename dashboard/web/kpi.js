// Leadership KPI page: the administrative-reform tiles, live over the same
// websocket as the wall (/ws, protocol v2, channel "kpi"). Vietnamese by default,
// English on a toggle. No framework, no build step, nothing inline: every
// element is built with the DOM API and filled with textContent.
'use strict';

(() => {
  const TZ = 'Asia/Ho_Chi_Minh';
  const RECONNECT_MAX_MS = 30000;
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';

  const GROUPS = {
    reform_plan: ['Kế hoạch CCHC (QĐ 32/QĐ-UBND)', 'Reform plan (Decision 32/QĐ-UBND)'],
    dossiers: ['Hồ sơ một cửa', 'One-stop-shop dossiers'],
    procedures: ['Thủ tục hành chính', 'Administrative procedures'],
    one_stop: ['Bộ phận tiếp nhận và trả kết quả', 'One-stop shops'],
    e_government: ['Chính phủ điện tử', 'E-government'],
    budget: ['Thu ngân sách', 'Budget revenue'],
    portal: ['Cổng thông tin điện tử', 'City portal'],
  };

  // What the numerator and denominator count, per tile.
  const NOUNS = {
    'reform_plan.done': ['nhiệm vụ', 'tasks'],
    'reform_plan.in_progress': ['nhiệm vụ', 'tasks'],
    'reform_plan.overdue': ['nhiệm vụ', 'tasks'],
    'dossiers.on_time': ['hồ sơ', 'dossiers'],
    'dossiers.settled': ['hồ sơ', 'dossiers'],
    'dossiers.late': ['hồ sơ', 'dossiers'],
    'dossiers.near_due': ['hồ sơ đang giải quyết', 'open dossiers'],
    'procedures.published': ['thủ tục', 'procedures'],
    'one_stop.excellent': ['bộ phận', 'shops'],
    'documents.signed': ['văn bản', 'documents'],
    'signing.departments': ['phòng, ban', 'departments'],
    'signing.communes': ['xã, phường', 'wards and communes'],
    'portal.yoy': ['lượt', 'visits and interactions'],
  };

  const TEXT = {
    target: ['Mục tiêu', 'Target'],
    none: ['không đặt mục tiêu', 'no target set'],
    asof: ['Tính đến', 'As of'],
    restated: ['Điều chỉnh số liệu tháng', 'Restated month'],
    was: ['trước đó', 'was'],
    live: ['Trực tiếp', 'Live'],
    connecting: ['Đang kết nối…', 'Connecting…'],
    down: ['Mất kết nối — đang thử lại', 'Disconnected — retrying'],
    fields: ['lĩnh vực', 'fields'],
    billion: ['tỷ đồng', 'bn VND'],
    vsYear: ['năm trước', 'last year'],
    of: ['trên', 'of'],
    switchTo: ['English', 'Tiếng Việt'],
    task: ['NV', 'Task'],
  };

  let lang = (new URLSearchParams(location.search).get('lang') || localStorage.getItem('ioc-kpi-lang') || 'vi') === 'en' ? 'en' : 'vi';
  const L = () => (lang === 'en' ? 1 : 0);
  const t = (k) => TEXT[k][L()];

  const tiles = new Map(); // id -> tile
  const changed = new Set();

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function locale() { return lang === 'en' ? 'en-GB' : 'vi-VN'; }

  function num(v, digits) {
    return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
  }

  function when(ms) {
    if (!ms) return '—';
    return new Intl.DateTimeFormat(locale(), {
      timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
    }).format(ms);
  }

  function day(iso) {
    const [y, m, d] = String(iso).split('-');
    return d + '/' + m + '/' + y;
  }

  // value as shown big, with its unit
  function bigValue(tile) {
    if (tile.value === null || tile.value === undefined) return ['—', ''];
    switch (tile.unit) {
      case 'percent': return [num(tile.value, 1), '%'];
      case 'percent_change': return [(tile.value >= 0 ? '+' : '−') + num(Math.abs(tile.value), 1), '%'];
      default: return [num(tile.value, 0), ''];
    }
  }

  function amount(v, id) {
    if (id.startsWith('budget.')) return num(v / 1e9, 1) + ' ' + t('billion');
    return num(v, 0);
  }

  function detailText(tile) {
    const noun = NOUNS[tile.id] ? ' ' + NOUNS[tile.id][L()] : '';
    const n = tile.numerator;
    const d = tile.denominator;
    if (tile.unit === 'percent_change') {
      if (d === null || d === undefined) return amount(n, tile.id) + noun;
      return amount(n, tile.id) + ' / ' + amount(d, tile.id) + ' (' + t('vsYear') + ')' + (tile.id.startsWith('budget.') ? '' : noun);
    }
    if (d === null || d === undefined) return amount(n, tile.id) + noun;
    if (tile.id.startsWith('budget.')) return amount(n, tile.id) + ' / ' + amount(d, tile.id);
    return amount(n, tile.id) + ' ' + t('of') + ' ' + amount(d, tile.id) + noun;
  }

  // good: the target is met; warn: a count that should be zero is not
  // (overdue tasks, late dossiers); null: on the way, or no target.
  function status(tile) {
    if (tile.target === null || tile.target === undefined || tile.value === null) return null;
    if (tile.target === 0) return tile.value <= 0 ? 'good' : 'warn';
    return tile.value >= tile.target - 1e-9 ? 'good' : null;
  }

  function bar(tile) {
    // Percent tiles: value against 100 with the target marked; counts with a
    // denominator: share of it.
    let frac = null;
    if (tile.unit === 'percent' && tile.value !== null) frac = tile.value / 100;
    else if (tile.unit === 'count' && tile.denominator) frac = tile.numerator / tile.denominator;
    if (frac === null) return null;
    frac = Math.max(0, Math.min(1, frac));
    const s = document.createElementNS(SVG, 'svg');
    s.setAttribute('class', 'bar');
    s.setAttribute('viewBox', '0 0 100 6');
    s.setAttribute('preserveAspectRatio', 'none');
    s.setAttribute('aria-hidden', 'true');
    const track = document.createElementNS(SVG, 'rect');
    track.setAttribute('class', 'track');
    track.setAttribute('width', '100'); track.setAttribute('height', '6'); track.setAttribute('rx', '1');
    const fill = document.createElementNS(SVG, 'rect');
    fill.setAttribute('class', 'fill');
    fill.setAttribute('width', String(frac * 100)); fill.setAttribute('height', '6'); fill.setAttribute('rx', '1');
    s.append(track, fill);
    if (tile.unit === 'percent' && tile.target !== null && tile.target > 0 && tile.target < 100) {
      const mark = document.createElementNS(SVG, 'rect');
      mark.setAttribute('class', 'mark');
      mark.setAttribute('x', String(tile.target - 0.4)); mark.setAttribute('width', '0.8'); mark.setAttribute('height', '6');
      s.append(mark);
    }
    return s;
  }

  function spark(tile) {
    const pts = (tile.series || []).filter((p) => p.value !== null && p.value !== undefined);
    if (pts.length < 2) return null;
    const vals = pts.map((p) => p.value);
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    if (tile.unit === 'percent') { lo = Math.min(lo, 0); hi = Math.max(hi, 100); }
    if (hi === lo) { hi = lo + 1; }
    const t0 = pts[0].ms;
    const t1 = pts[pts.length - 1].ms;
    const x = (ms) => (t1 === t0 ? 0 : ((ms - t0) / (t1 - t0)) * 100);
    const y = (v) => 28 - ((v - lo) / (hi - lo)) * 26;
    const s = document.createElementNS(SVG, 'svg');
    s.setAttribute('class', 'spark');
    s.setAttribute('viewBox', '-2 0 104 30');
    s.setAttribute('preserveAspectRatio', 'none');
    s.setAttribute('role', 'img');
    s.setAttribute('aria-label', pts.map((p) => day(p.at) + ': ' + bigValue({ value: p.value, unit: tile.unit }).join(' ')).join('; '));
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', pts.map((p) => x(p.ms).toFixed(2) + ',' + y(p.value).toFixed(2)).join(' '));
    const last = pts[pts.length - 1];
    const dot = document.createElementNS(SVG, 'circle');
    dot.setAttribute('cx', x(last.ms).toFixed(2)); dot.setAttribute('cy', y(last.value).toFixed(2)); dot.setAttribute('r', '1.6');
    s.append(line, dot);
    return s;
  }

  function tileEl(tile) {
    const card = el('section', 'tile');
    card.dataset.id = tile.id;
    const st = status(tile);
    if (st) card.classList.add(st);
    if (changed.has(tile.id)) card.classList.add('flash');
    card.append(el('div', 'group', GROUPS[tile.group] ? GROUPS[tile.group][L()] : tile.group));
    card.append(el('div', 'label', lang === 'en' ? tile.label_en : tile.label_vi));
    const [v, unit] = bigValue(tile);
    const value = el('div', 'value', v);
    value.dataset.value = tile.value === null ? '' : String(tile.value);
    if (unit) value.append(el('span', 'unit', unit));
    card.append(value);
    card.append(el('div', 'detail', detailText(tile)));
    let target = t('target') + ': ';
    if (tile.target === null || tile.target === undefined) target += t('none');
    else target += tile.unit === 'count' ? num(tile.target, 0) : num(tile.target, 0) + ' %';
    const meta = el('div', 'target');
    meta.append(el('span', '', target), el('span', 'asof', t('asof') + ' ' + when(tile.as_of_ms)));
    card.append(meta);
    const b = bar(tile);
    if (b) card.append(b);
    const sp = spark(tile);
    if (sp) card.append(sp);
    if (tile.breakdown && tile.breakdown.length) {
      const bd = el('div', 'breakdown');
      for (const p of tile.breakdown) {
        const label = lang === 'en' ? p.label_en : p.label_vi;
        // Numbered keys (main tasks) show as "NV 3", with the name on hover.
        const short = /^\d+$/.test(p.key) ? t('task') + ' ' + p.key : label;
        const item = el('span');
        item.title = label;
        item.append(el('b', '', num(p.value, 0)), document.createTextNode(' ' + short));
        bd.append(item);
      }
      card.append(bd);
    }
    const foot = el('div', 'foot');
    if (tile.restated && tile.restated.months && tile.restated.months.length) {
      const r = tile.restated;
      let txt = t('restated') + ' ' + r.months.map((m) => m.slice(5) + '/' + m.slice(0, 4)).join(', ') + ' · ' + when(r.at_ms);
      if (r.previous_value !== null && r.previous_value !== undefined) {
        txt += ' (' + t('was') + ' ' + bigValue({ value: r.previous_value, unit: tile.unit }).join(' ') + ')';
      }
      foot.append(el('span', 'restated', txt));
    }
    if (foot.childElementCount) card.append(foot);
    return card;
  }

  function render() {
    const list = [...tiles.values()].sort((a, b) => a.order - b.order || a.id.localeCompare(b.id));
    $('tiles').replaceChildren(...list.map(tileEl));
    changed.clear();
    $('empty').hidden = list.length > 0;
    const first = list[0];
    $('asof-time').textContent = first ? when(first.as_of_ms) : '—';
    $('period').textContent = first ? day(first.period.from) + ' – ' + day(first.period.to) : '—';
  }

  function applyLang() {
    document.documentElement.lang = lang;
    for (const e of document.querySelectorAll('[data-vi]')) e.textContent = e.dataset[lang];
    document.title = $('title').textContent;
    const btn = $('lang');
    btn.textContent = t('switchTo');
    btn.lang = lang === 'en' ? 'vi' : 'en';
    render();
    setConn(connState);
  }

  $('lang').addEventListener('click', () => {
    lang = lang === 'en' ? 'vi' : 'en';
    localStorage.setItem('ioc-kpi-lang', lang);
    applyLang();
  });

  function take(list, full) {
    if (!Array.isArray(list)) return;
    if (full) tiles.clear();
    for (const tile of list) {
      if (!tile || typeof tile.id !== 'string') continue;
      const old = tiles.get(tile.id);
      if (old && old.computed_ms > tile.computed_ms) continue; // never go back
      if (!old || old.value !== tile.value || old.numerator !== tile.numerator) changed.add(tile.id);
      tiles.set(tile.id, tile);
    }
    render();
  }

  let connState = 'connecting';
  function setConn(s) {
    connState = s;
    const c = $('conn');
    c.className = 'conn ' + s;
    $('conn-text').textContent = t(s === 'live' ? 'live' : s === 'down' ? 'down' : 'connecting');
  }

  fetch('/api/kpis', { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : null))
    .then((body) => { if (body && tiles.size === 0) take(body.tiles, true); })
    .catch(() => {});

  // Websocket protocol v2 (docs/websocket.md): the channel "kpi", keys are
  // tile ids, values whole tiles. Snapshot (in parts), then deltas; a gap
  // or a heartbeat naming another sequence resubscribes with epoch and
  // sequence, which resumes exactly.
  const PING_MS = 10000;
  const kpi = { epoch: '', seq: 0, parts: null };
  let attempt = 0, pingTimer = 0;
  function connect() {
    const url = new URL('/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('channels', 'kpi');
    let ws;
    try { ws = new WebSocket(url.href); } catch (e) { retry(); return; }
    const send = (m) => { if (ws.readyState === 1) ws.send(JSON.stringify(m)); };
    const subscribe = () => send(kpi.epoch ? { op: 'subscribe', ch: 'kpi', epoch: kpi.epoch, seq: kpi.seq } : { op: 'subscribe', ch: 'kpi' });
    ws.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch { return; }
      if (!m) return;
      switch (m.type) {
        case 'hello':
          subscribe();
          clearInterval(pingTimer);
          pingTimer = setInterval(() => send({ op: 'ping', id: Date.now() }), PING_MS);
          break;
        case 'subscribed':
          attempt = 0;
          setConn('live');
          break;
        case 'snapshot':
          if (m.ch !== 'kpi') return;
          if (m.part === 0) kpi.parts = {};
          if (!kpi.parts) return;
          Object.assign(kpi.parts, m.set);
          if (m.last) {
            take(Object.values(kpi.parts), true);
            kpi.parts = null;
            kpi.epoch = m.epoch;
            kpi.seq = m.seq;
          }
          break;
        case 'delta':
          if (m.ch !== 'kpi') return;
          if (m.epoch !== kpi.epoch || m.from !== kpi.seq + 1) { subscribe(); return; } // a gap: resume
          for (const id of m.del || []) tiles.delete(id);
          take(Object.values(m.set || {}), false);
          kpi.seq = m.seq;
          break;
        case 'heartbeat':
          if (m.seqs && typeof m.seqs.kpi === 'number' && m.seqs.kpi !== kpi.seq && !kpi.parts) subscribe();
          break;
        default:
      }
    };
    ws.onclose = (ev) => {
      clearInterval(pingTimer);
      // 4401 credentials ended, 4403 revoked (docs/websocket.md): sign in again.
      if (ev.code === 4401 || ev.code === 4403) { location.assign('/login?next=' + encodeURIComponent(location.pathname)); return; }
      retry();
    };
  }

  function retry() {
    setConn('down');
    const base = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
    attempt = Math.min(attempt + 1, 16);
    setTimeout(connect, base / 2 + Math.random() * base / 2);
  }

  applyLang();
  connect();
})();
