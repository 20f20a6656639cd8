// The websocket client of every page: protocol v2 (docs/websocket.md).
// Per channel: a snapshot (in parts) replaces the state, then deltas apply
// in order; a gap, or a heartbeat naming another sequence, resubscribes
// with epoch and sequence, which resumes exactly (replay or catch-up). A
// closed connection is retried with exponential back-off and jitter (half
// to all of 1 s, 2 s, 4 s … 30 s); 4401 (credentials ended) and 4403
// (revoked) send the page to the sign-in instead.
//
//   const conn = connect({ channels: ['wall'], client: 'wall-…',
//     snapshot(ch, set, restarted) {}, delta(ch, set, del) {},
//     status(state, detail) {},   // 'connecting' | 'live' | 'retry' ({at, reason})
//     frame(m) {} });             // every message (server_ms)
//   conn.epoch('wall'); conn.seq('wall');

const RECONNECT_MAX_MS = 30000;
const PING_MS = 10000;

export function backoff(attempt) {
  const base = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** attempt);
  return base / 2 + Math.random() * base / 2;
}

export function connect(opts) {
  const names = opts.channels;
  const chans = {};
  for (const ch of names) chans[ch] = { epoch: '', seq: 0, parts: null, known: '' };
  const noop = () => {};
  const onSnapshot = opts.snapshot || noop, onDelta = opts.delta || noop, onStatus = opts.status || noop, onFrame = opts.frame || noop;
  let ws = null, attempt = 0, pingTimer = 0;

  function open() {
    onStatus('connecting');
    const url = new URL(opts.path || '/ws', location.href);
    url.protocol = location.protocol === 'https:' ? 'wss:' : 'ws:';
    url.searchParams.set('channels', names.join(','));
    if (opts.client) url.searchParams.set('client', opts.client);
    let sock;
    try { sock = new WebSocket(url.href); } catch (e) { retry(''); return; }
    ws = sock;
    sock.onmessage = (ev) => {
      let m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (m && ws === sock) onMessage(sock, m);
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      clearInterval(pingTimer);
      if (ev.code === 4401 || ev.code === 4403) {
        location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
        return;
      }
      retry(ev.code >= 4000 && ev.reason ? ev.reason : '');
    };
  }

  const send = (sock, m) => { if (sock.readyState === 1) sock.send(JSON.stringify(m)); };

  function subscribe(sock, ch) {
    const c = chans[ch];
    c.parts = null;
    send(sock, c.epoch ? { op: 'subscribe', ch, epoch: c.epoch, seq: c.seq } : { op: 'subscribe', ch });
  }

  function onMessage(sock, m) {
    onFrame(m);
    const c = chans[m.ch];
    switch (m.type) {
      case 'hello':
        if (m.previous_close && m.previous_close.reason) console.info('previous disconnect: ' + m.previous_close.reason);
        for (const ch of names) subscribe(sock, ch);
        clearInterval(pingTimer);
        pingTimer = setInterval(() => send(sock, { op: 'ping', id: Date.now() }), PING_MS);
        break;
      case 'subscribed':
        attempt = 0;
        onStatus('live');
        break;
      case 'snapshot':
        if (!c) return;
        if (m.part === 0) c.parts = {};
        if (!c.parts) return;
        Object.assign(c.parts, m.set);
        if (m.last) {
          const set = c.parts;
          const restarted = c.known !== '' && c.known !== m.epoch; // the server restarted: history has a gap
          c.parts = null;
          c.epoch = c.known = m.epoch;
          c.seq = m.seq;
          onSnapshot(m.ch, set, restarted);
        }
        break;
      case 'delta':
        if (!c) return;
        if (m.epoch !== c.epoch || m.from !== c.seq + 1) { subscribe(sock, m.ch); return; } // a gap: resume
        c.seq = m.seq;
        onDelta(m.ch, m.set || {}, m.del || []);
        break;
      case 'heartbeat':
        for (const ch of names) {
          const s = m.seqs && m.seqs[ch];
          if (typeof s === 'number' && s !== chans[ch].seq && !chans[ch].parts) subscribe(sock, ch);
        }
        break;
      default:
    }
  }

  function retry(reason) {
    const delay = backoff(attempt);
    attempt = Math.min(attempt + 1, 16);
    onStatus('retry', { at: Date.now() + delay, reason });
    setTimeout(open, delay);
  }

  open();
  return {
    epoch: (ch) => chans[ch].epoch,
    seq: (ch) => chans[ch].seq,
  };
}
