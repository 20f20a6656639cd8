// Control-room wall of Son La City: map, tiles, trends, alerts and feed
// health, live over websocket protocol v2 (docs/websocket.md). This module
// wires the panels (wall/*.js) to the websocket client (lib/ws.js) and the
// translations (lib/i18n.js); each panel re-renders only when the keys it
// shows changed, a clock second passed, or the language changed.
//
// Memory stays bounded over days: the DOM is built once per registry
// device and updated in place; charts keep at most their window of minute
// points; alerts show at most twelve rows.
import { $ } from './lib/dom.js';
import * as i18n from './lib/i18n.js';
import { connect } from './lib/ws.js';
import * as alerts from './wall/alerts.js';
import * as feeds from './wall/feeds.js';
import * as header from './wall/header.js';
import * as map from './wall/map.js';
import * as store from './wall/store.js';
import * as tiles from './wall/tiles.js';
import * as trends from './wall/trends.js';
import { serverMs } from './wall/time.js';

let clientId = sessionStorage.getItem('ioc-client');
if (!clientId) {
  clientId = 'wall-' + Math.random().toString(36).slice(2, 12);
  sessionStorage.setItem('ioc-client', clientId);
}

let dirty = true, second = true, langChanged = true, meChanged = true;

function render() {
  const ctx = { changed: store.takeChanges(), second, lang: langChanged, me: meChanged };
  second = langChanged = meChanged = false;
  header.render(ctx);
  const byPartner = map.render(ctx);
  tiles.render(ctx);
  alerts.render(ctx);
  feeds.render(ctx, byPartner);
  trends.render(ctx);
}

function frame() {
  if (dirty) { dirty = false; render(); }
  requestAnimationFrame(frame);
}

function tick() {
  second = dirty = true;
  setTimeout(tick, 1000 - (Date.now() % 1000) + 5);
}

let conn = null;
// What the browser tests read (dashboard/browser_test.go).
window.__wall = {
  epoch: () => (conn ? conn.epoch('wall') : ''),
  seq: () => (conn ? conn.seq('wall') : 0),
  points: trends.points,
};

i18n.bindToggle($('lang'));
i18n.onChange(() => { langChanged = dirty = true; });
i18n.start();
alerts.bindAckForm();
tick();

Promise.all([
  fetch('geo/sonla.json').then((r) => r.json()).then(map.setGeo),
  fetch('api/me', { credentials: 'same-origin', cache: 'no-store' }).then((r) => (r.ok ? r.json() : null))
    .then((m) => { if (m) { alerts.setMe(Object.assign({ permissions: [] }, m)); meChanged = dirty = true; } }).catch(() => {}),
]).catch(() => {}).then(() => {
  trends.start();
  trends.loadHistory();
  conn = connect({
    path: 'ws',
    channels: ['wall'],
    client: clientId,
    frame: (m) => { if (typeof m.server_ms === 'number') serverMs(m.server_ms); header.frameSeen(); },
    status: (s, detail) => { header.connection(s, detail); dirty = true; },
    snapshot: (ch, set, restarted) => {
      store.replace(set);
      dirty = true;
      if (restarted) trends.loadHistory(); // the server restarted: refill the charts' gap
    },
    delta: (ch, set, del) => { store.apply(set, del); dirty = true; },
  });
  requestAnimationFrame(frame);
});
