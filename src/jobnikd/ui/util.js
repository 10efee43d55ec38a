// DOM building and formatting helpers. Text always goes in as text nodes (never HTML).

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'width') el.style.width = v;  // CSSOM: allowed by the CSP (no style attribute)
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

const numberFormat = new Intl.NumberFormat();
export const num = (n) => (n === undefined || n === null ? '—' : numberFormat.format(n));

const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const exactFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

// "3 minutes ago" with the exact local time (and ISO) on hover.
export function when(iso) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  const d = new Date(iso);
  return h('time', { datetime: iso, title: `${exactFormat.format(d)} (${iso})` }, relative(d));
}

export function relative(d) {
  const s = (d.getTime() - Date.now()) / 1000;
  const abs = Math.abs(s);
  if (abs < 45) return rtf.format(Math.round(s), 'second');
  if (abs < 2700) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 64800) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

// A duration in seconds, short: 42 s, 5 min, 3 h 10 min, 2 d.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
  return `${Math.round(seconds / 86400)} d`;
}

export const badge = (status) => h('span', { class: `badge s-${status}` }, status.replace('_', ' ').toLowerCase());
export const priorityBadge = (p) => h('span', { class: `badge p-${p}` }, p.replace('_', ' ').toLowerCase());

// A bar of completed / failed / in progress out of total (or a plain percentage).
export function bar(parts, total, label) {
  const spans = [];
  for (const [cls, n] of parts) {
    if (total > 0 && n > 0) spans.push(h('span', { class: cls, width: `${(100 * n) / total}%` }));
  }
  return h('div', { class: 'progress' },
    h('div', { class: 'bar', role: 'img', 'aria-label': label }, spans),
    h('span', { class: 'pct' }, label));
}

export function json(title, value, key) {
  return h('details', { 'data-key': key }, h('summary', {}, title),
    h('pre', { class: 'mono' }, JSON.stringify(value ?? {}, null, 2)));
}

export const shortId = (id) => id.slice(0, 8);
