// The one translation module of every page (wall, KPI page, sign-in,
// administration, and any page added later). The table is lib/strings.js:
// one section per page (plus "common"), each key with its Vietnamese and its
// English text.
//
// The language is, in this order: ?lang=vi|en in the page's address (a kiosk
// wall pinned to a language in its link), the choice remembered in this
// browser (localStorage "ioc-lang"), Vietnamese. Choosing a language
// remembers it and, when the address names one, rewrites the address too,
// so a reload keeps what was chosen; nothing else is hidden or locked.
//
// In HTML: data-i18n="section.key" sets the element's text;
// data-i18n-placeholder, data-i18n-title, data-i18n-aria-label and
// data-i18n-content set those attributes; data-i18n-arg is passed as {arg}.
// In JavaScript: t('section.key', {n: 3}) fills {n}; an entry may have
// "en.one"/"vi.one" for n === 1. onChange(fn) re-renders what JavaScript
// wrote. dashboard/strings_test.go fails on a key missing in either language.

import STRINGS from './strings.js';

export const LANGS = ['vi', 'en'];
const STORE = 'ioc-lang';
const listeners = [];

function valid(l) { return LANGS.includes(l) ? l : ''; }

function stored() {
  try { return valid(localStorage.getItem(STORE)) || valid(localStorage.getItem('ioc-kpi-lang')); } catch (e) { return ''; }
}

let current = valid(new URLSearchParams(location.search).get('lang')) || stored() || 'vi';

export function lang() { return current; }

// locale is the Intl locale of the language (dates and numbers).
export function locale() { return current === 'en' ? 'en-GB' : 'vi-VN'; }

// TZ is the city's time zone: every time a page shows is in it.
export const TZ = 'Asia/Ho_Chi_Minh';

// num formats a number with the language's separators and digits decimals.
export function num(v, digits) {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
}

// dateTime formats a time (epoch ms or a Date) as day, month, year, hour
// and minute in the city's time zone; no time shows as a dash.
export function dateTime(v) {
  if (!v) return '—';
  return new Intl.DateTimeFormat(locale(), {
    timeZone: TZ, day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).format(v);
}

export function has(key) {
  const i = key.indexOf('.');
  const sec = STRINGS[key.slice(0, i)];
  return !!(sec && sec[key.slice(i + 1)]);
}

export function t(key, params) {
  const i = key.indexOf('.');
  const sec = STRINGS[key.slice(0, i)];
  const e = sec && sec[key.slice(i + 1)];
  if (!e) return key; // strings_test.go keeps this from happening
  let s = (params && params.n === 1 && e[current + '.one']) || e[current] || e.vi;
  if (params) s = s.replace(/\{(\w+)\}/g, (m, k) => (params[k] === undefined ? m : String(params[k])));
  return s;
}

const ATTRS = [['i18nPlaceholder', 'placeholder'], ['i18nTitle', 'title'], ['i18nAriaLabel', 'aria-label'], ['i18nContent', 'content']];

// apply translates every data-i18n* element under root.
export function apply(root) {
  const r = root || document;
  const params = (e) => (e.dataset.i18nArg !== undefined ? { arg: e.dataset.i18nArg } : undefined);
  for (const e of r.querySelectorAll('[data-i18n]')) {
    const s = t(e.dataset.i18n, params(e));
    if (e.textContent !== s) e.textContent = s;
  }
  for (const [d, attr] of ATTRS) {
    for (const e of r.querySelectorAll('[data-i18n-' + attr + ']')) {
      const s = t(e.dataset[d], params(e));
      if (e.getAttribute(attr) !== s) e.setAttribute(attr, s);
    }
  }
  document.documentElement.lang = current;
}

export function onChange(fn) { listeners.push(fn); }

export function setLang(l) {
  const v = valid(l);
  if (!v) return;
  try { localStorage.setItem(STORE, v); } catch (e) { /* private mode: the choice lasts this page */ }
  const u = new URL(location.href);
  if (u.searchParams.has('lang') && u.searchParams.get('lang') !== v) {
    u.searchParams.set('lang', v);
    history.replaceState(history.state, '', u.href);
  }
  if (v === current) return;
  current = v;
  apply();
  for (const fn of listeners) fn(current);
}

// bindToggle makes button switch between the two languages; its text names
// the other one (in that language).
export function bindToggle(button) {
  if (!button) return;
  const show = () => {
    const other = current === 'en' ? 'vi' : 'en';
    button.textContent = t('common.lang.' + other);
    button.lang = other;
    button.dataset.lang = other;
    button.setAttribute('aria-label', t('common.lang.switch'));
  };
  button.addEventListener('click', () => setLang(current === 'en' ? 'vi' : 'en'));
  onChange(show);
  show();
}

// start translates the page once its modules have run.
export function start() { apply(); }
