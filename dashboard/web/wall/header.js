// The wall's header: server-time clock, connection indicator, pipeline
// health chips, and the banner over a wall that no longer receives frames.
import { $, setClass, setHidden, setText } from '../lib/dom.js';
import { t } from '../lib/i18n.js';
import { state } from './store.js';
import { hms, longDate, now, offsetMs } from './time.js';

const STALE_WALL_MS = 60000; // nothing from the server: the whole wall is stale

let conn = { state: 'connecting', at: 0, reason: '' };
let lastFrameAt = 0;

export function frameSeen() { lastFrameAt = Date.now(); }

export function connection(s, detail) {
  conn = { state: s, at: (detail && detail.at) || 0, reason: (detail && detail.reason) || '' };
}

function renderConn() {
  const cls = { live: 'live', retry: 'reconnecting', connecting: 'connecting' }[conn.state];
  setClass($('conn'), 'conn ' + cls);
  let text = t('wall.conn.connecting');
  if (conn.state === 'live') text = t('wall.conn.live');
  if (conn.state === 'retry') text = (conn.reason ? conn.reason + ' · ' : '') + t('wall.conn.retry', { n: Math.max(0, Math.ceil((conn.at - Date.now()) / 1000)) });
  setText($('conn-text'), text);
}

function chip(id, cls, text) {
  const c = $(id);
  setClass(c, 'chip ' + cls);
  setText(c.querySelector('span'), text);
}

function renderPipeline() {
  const p = state.get('p');
  if (!p) return;
  chip('p-ch', p.ch_up ? 'good' : 'bad', p.ch_up ? '✔ ' + p.ch_ms + ' ms' : '✖ ' + t('wall.pipe.down'));
  const storeLag = p.stored_ms ? (now() - p.stored_ms) / 1000 : null;
  chip('p-store', storeLag === null ? 'warn' : storeLag > 60 ? 'bad' : storeLag > 15 ? 'warn' : 'good',
    storeLag === null ? '—' : t('wall.pipe.lag', { n: storeLag.toFixed(0) }));
  const liveLag = p.live_ms ? (now() - p.live_ms) / 1000 : null;
  chip('p-live', liveLag === null ? 'warn' : liveLag > 60 ? 'bad' : liveLag > 15 ? 'warn' : 'good',
    liveLag === null ? '—' : liveLag < 1 ? '< 1 s' : liveLag.toFixed(0) + ' s');
  chip('p-dl', p.dl > 10 ? 'bad' : p.dl > 1 ? 'warn' : 'good', t('wall.perMin', { n: p.dl }) + (p.stream_lag >= 0 ? ' · lag ' + Math.round(p.stream_lag) : ''));
}

// render: ctx.second (a clock second passed), ctx.lang, ctx.changed.
export function render(ctx) {
  if (ctx.second || ctx.lang) {
    const tm = now();
    setText($('clock-time'), hms(tm));
    setText($('clock-date'), longDate(tm));
    const stale = lastFrameAt > 0 && Date.now() - lastFrameAt > STALE_WALL_MS;
    setHidden($('stale-banner'), !stale);
    if (stale) setText($('stale-sub'), t('wall.stale.sub', { time: hms(lastFrameAt + offsetMs()) }));
  }
  renderConn();
  if (ctx.second || ctx.lang || ctx.changed.has('p')) renderPipeline();
}
