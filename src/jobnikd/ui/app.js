// The dashboard's shell: history routing (real /ui/... URLs), live refresh by polling
// (backing off while the tab is hidden or the server does not answer) and, on a job's page,
// by its stream (GET /v1/stream), the confirmation dialog and notices.
import { query, stream, token } from './api.js';
import { relative } from './util.js';
import { routes } from './views.js';

const main = document.getElementById('main');
const live = document.getElementById('live');
const notice = document.getElementById('notice');

const VISIBLE_INTERVAL = 2000;  // ms between refreshes while the tab is visible
const MAX_INTERVAL = 60000;     // the longest wait, hidden or failing
const STREAMED_INTERVAL = 30000;  // polling while a job's stream says when it changes
const STREAM_RETRY = 30000;       // after a stream was refused or broke

let current = null;   // { view, params, sig }
let timer = null;
let interval = VISIBLE_INTERVAL;
let generation = 0;   // bumps on navigation: late answers of an old page are dropped
let following = null; // the job stream of this page: { jobId, controller, open }
let streamRetryAt = 0; // no new stream before this time (ms)
let pending = null;    // a refresh asked for by the stream, not run yet

// A job's page follows the job's stream: each change re-reads the page at once (at most
// every 300 ms) and polling slows to a safety net. Elsewhere, or when jobnikd refuses a
// stream (an older jobnikd, stream.max_clients reached), the page polls.
function follow(jobId) {
  if (following && following.jobId === jobId) return;
  following?.controller.abort();
  following = null;
  if (!jobId || Date.now() < streamRetryAt) return;
  const me = { jobId, controller: new AbortController(), open: false };
  following = me;
  stream(`/v1/stream${query({ job_id: jobId })}`, me.controller.signal, (type) => {
    me.open = true;
    if ((type === 'job' || type === 'jobEvent') && !pending) {
      pending = setTimeout(() => { pending = null; refreshNow(); }, 300);
    }
  }).catch(() => {}).finally(() => {
    if (following !== me) return;  // left the page
    following = null;
    streamRetryAt = Date.now() + STREAM_RETRY;
    interval = VISIBLE_INTERVAL;
  });
}

function match(pathname) {
  for (const r of routes) {
    const m = pathname.match(r.pattern);
    if (m) return { view: r, params: { ...m.groups, query: new URLSearchParams(location.search) } };
  }
  return { view: routes[routes.length - 1], params: { query: new URLSearchParams() } };
}

export function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render(true);
}

export function showNotice(text, ok = false) {
  notice.textContent = text;
  notice.className = ok ? 'notice ok' : 'notice';
  notice.hidden = false;
  clearTimeout(showNotice.t);
  showNotice.t = setTimeout(() => { notice.hidden = true; }, ok ? 4000 : 10000);
}

// Asks before an action; resolves true when confirmed.
export function confirmAction(text, verb = 'Confirm') {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = verb;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
}

// Re-reads the current page now (after an action).
export function refreshNow() {
  clearTimeout(timer);
  refresh();
}

async function render(navigated) {
  clearTimeout(timer);
  const gen = ++generation;
  const { view, params } = match(location.pathname);
  current = { view, params, sig: null };
  document.title = `${view.title(params)} · Jobnik`;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === view.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  follow(view.follows ? view.follows(params) : null);
  main.replaceChildren(view.head ? view.head(params) : '', Object.assign(document.createElement('div'), { id: 'live-region' }));
  if (navigated) main.focus({ preventScroll: true });
  await refresh(gen);
}

async function refresh(gen = generation) {
  const state = current;
  try {
    const { sig, node } = await state.view.body(state.params);
    if (gen !== generation) return;
    if (sig !== state.sig) {
      state.sig = sig;
      replaceLive(node);
    } else {
      for (const t of main.querySelectorAll('time[datetime]')) t.textContent = relative(new Date(t.dateTime));
    }
    const streamed = following?.open;
    live.textContent = `live${streamed ? ' (streamed)' : ''} · updated ${new Date().toLocaleTimeString()}`;
    live.classList.remove('error');
    if (streamed) interval = STREAMED_INTERVAL;
    else interval = document.hidden ? Math.min(interval * 2, MAX_INTERVAL) : VISIBLE_INTERVAL;
  } catch (e) {
    if (gen !== generation) return;
    if (e.status === 401) {
      signIn(e.message);
      return;
    }
    interval = Math.min(interval * 2, MAX_INTERVAL);
    live.textContent = `not updated: ${e.message}; retrying in ${Math.round(interval / 1000)} s`;
    live.classList.add('error');
    if (state.sig === null) replaceLive(errorNode(e));
  }
  clearTimeout(timer);
  timer = setTimeout(() => refresh(gen), interval);
}

// Asks for a bearer token (after a 401), keeps it for this tab and reloads the page.
function signIn(message) {
  const dialog = document.getElementById('signin');
  if (dialog.open) return;
  live.textContent = 'signed out';
  document.getElementById('signin-text').textContent = token.get()
    ? `The token was refused: ${message}`
    : 'This jobnikd needs a bearer token (jobnikd token create).';
  const input = document.getElementById('signin-token');
  input.value = '';
  dialog.addEventListener('close', () => {
    if (dialog.returnValue === 'ok' && input.value.trim()) {
      token.set(input.value.trim());
      input.value = '';
      render(false);
    }
  }, { once: true });
  dialog.returnValue = '';
  dialog.showModal();
  input.focus();
}

function errorNode(e) {
  const p = document.createElement('p');
  p.className = 'notice';
  p.textContent = e.status === 404 ? 'Not found: it may have been deleted.' : `Could not load: ${e.message}`;
  return p;
}

// Replaces the live part of the page, keeping open <details> and the focused control.
function replaceLive(node) {
  const region = document.getElementById('live-region');
  const open = new Set([...region.querySelectorAll('details[open][data-key]')].map((d) => d.dataset.key));
  const focused = document.activeElement?.id && region.contains(document.activeElement) ? document.activeElement.id : null;
  for (const d of node.querySelectorAll('details[data-key]')) if (open.has(d.dataset.key)) d.open = true;
  region.replaceChildren(node);
  if (focused) document.getElementById(focused)?.focus();
}

document.addEventListener('click', (e) => {
  const a = e.target.closest('a[href]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/') || a.target) return;
  e.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => render(true));
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) {
    interval = VISIBLE_INTERVAL;
    refreshNow();
  }
});

render(false);
