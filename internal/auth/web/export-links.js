// Export links (an ES module, nothing inline: strict CSP). Any element
//   <span data-export="/api/export/alerts" data-export-perm="alerts.view" data-export-form="audit-form"></span>
// gets CSV and XLSX links to that export, shown only to a principal whose
// role has the export permission and data-export-perm (GET /api/me); with
// data-export-form, the form's fields (filters) go along. The server checks
// the role again and audits each export (docs/reports.md). Its text is
// section "export" of the one translation table (lib/strings.js); it
// follows the page's language switch (lib/i18n.js onChange).

import * as i18n from '/lib/i18n.js';

async function me() {
  try {
    const r = await fetch('/api/me', { cache: 'no-store' });
    return r.ok ? await r.json() : null;
  } catch (e) {
    return null;
  }
}

function query(el) {
  const q = new URLSearchParams();
  const form = el.dataset.exportForm && document.getElementById(el.dataset.exportForm);
  if (form) {
    for (const [k, v] of new FormData(form)) if (typeof v === 'string' && v !== '') q.set(k, v);
  }
  return q;
}

function render(el) {
  const parts = [document.createTextNode(i18n.t('export.download') + ' ')];
  for (const f of ['csv', 'xlsx']) {
    const q = query(el);
    q.set('format', f);
    const a = document.createElement('a');
    a.href = el.dataset.export + '?' + q.toString();
    a.textContent = f.toUpperCase();
    a.className = 'export-link';
    a.setAttribute('download', '');
    if (parts.length > 1) parts.push(document.createTextNode(' · '));
    parts.push(a);
  }
  el.replaceChildren(...parts);
}

const els = [...document.querySelectorAll('[data-export]')];
if (els.length) {
  const who = await me();
  const perms = (who && who.permissions) || [];
  for (const el of els) {
    const need = el.dataset.exportPerm;
    if (!perms.includes('export') || (need && !perms.includes(need))) { el.hidden = true; continue; }
    el.hidden = false;
    render(el);
    const form = el.dataset.exportForm && document.getElementById(el.dataset.exportForm);
    if (form) { form.addEventListener('input', () => render(el)); form.addEventListener('change', () => render(el)); }
  }
  i18n.onChange(() => els.forEach((el) => { if (!el.hidden) render(el); }));
}
