// The wall channel's state (docs/websocket.md): key -> value, and which
// kinds of key changed since the last render ("g", "d", "a", "f", "p", "u",
// "t", "meta"), so a panel re-renders only when its keys changed.

export const state = new Map();
export let meta = { water_stages: [1.5, 2, 2.5] };
let changed = new Set();

const kind = (k) => { const i = k.indexOf('/'); return i < 0 ? k : k.slice(0, i); };

export function replace(set) {
  for (const k of state.keys()) changed.add(kind(k));
  state.clear();
  apply(set, []);
}

export function apply(set, del) {
  for (const k of del || []) { state.delete(k); changed.add(kind(k)); }
  for (const k in set || {}) { state.set(k, set[k]); changed.add(kind(k)); }
  if (set && set.meta) meta = set.meta;
}

// takeChanges returns the kinds changed since the last call.
export function takeChanges() {
  const c = changed;
  changed = new Set();
  return c;
}

// of lists [suffix, value] of the keys with a prefix ("g/", "d/"…).
export function of(prefix) {
  const out = [];
  for (const [k, v] of state) if (k.startsWith(prefix)) out.push([k.slice(prefix.length), v]);
  return out;
}

// No registry known yet (the server says so): nobody can be called unregistered.
export const registryLoading = () => !meta.registry || meta.registry_loading === true;
