// Small DOM helpers shared by every page. Text reaches the page only
// through textContent (never HTML). setText, setClass and setAttr write only
// when the value differs, so a page that re-renders often touches only what
// changed (a MutationObserver sees nothing when nothing changed).

export const $ = (id) => document.getElementById(id);

export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// thead is a table head of one row: cols are [text, class] pairs, each a
// column header (scope col).
export function thead(cols) {
  const row = el('tr');
  for (const [text, cls] of cols) {
    const th = el('th', cls, text);
    th.scope = 'col';
    row.append(th);
  }
  const head = el('thead');
  head.append(row);
  return head;
}

// closeButton is a drill-down panel's × button, labelled for screen readers.
export function closeButton(label, onClick) {
  const b = el('button', 'drill-close', '×');
  b.type = 'button';
  b.title = label;
  b.setAttribute('aria-label', label);
  b.addEventListener('click', onClick);
  return b;
}

const svgNS = 'http://www.w3.org/2000/svg';
export function sv(tag, attrs) {
  const e = document.createElementNS(svgNS, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  return e;
}

export function setText(node, text) {
  const s = String(text);
  if (node.textContent !== s) node.textContent = s;
}

export function setClass(node, cls) {
  if (node.getAttribute('class') !== cls) node.setAttribute('class', cls);
}

export function setAttr(node, name, value) {
  const s = String(value);
  if (node.getAttribute(name) !== s) node.setAttribute(name, s);
}

export function setHidden(node, hidden) {
  if (node.hidden !== !!hidden) node.hidden = !!hidden;
}

export function toggleClass(node, cls, on) {
  if (node.classList.contains(cls) !== !!on) node.classList.toggle(cls, !!on);
}

// setParts replaces a node's children with parts (strings become text,
// [text] becomes <b>text</b>) only when the text they make differs.
const partsOf = new WeakMap(); // node -> the key of the parts it shows
export function setParts(node, parts) {
  const key = parts.map((p) => (Array.isArray(p) ? '\u0001' + p[0] + '\u0002' : String(p))).join('');
  if (partsOf.get(node) === key) return;
  partsOf.set(node, key);
  node.replaceChildren(...parts.map((p) => (Array.isArray(p) ? el('b', '', String(p[0])) : document.createTextNode(String(p)))));
}

// nfc normalises Vietnamese text from partners (decomposed diacritics).
export const nfc = (s) => (typeof s === 'string' ? s.normalize('NFC') : '');
