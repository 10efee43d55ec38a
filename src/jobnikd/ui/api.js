// The REST API (same origin). Errors carry the API's message.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message ? `${body.message} (${status})` : `HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

// The bearer token this tab signed in with (jobnikd with auth on; see jobnikd(8)), kept
// for the tab's life only.
const TOKEN_KEY = 'jobnik.token';
export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => (value ? sessionStorage.setItem(TOKEN_KEY, value) : sessionStorage.removeItem(TOKEN_KEY)),
};

async function call(method, path, body) {
  const init = { method, headers: { Accept: 'application/json' } };
  const bearer = token.get();
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, headers: res.headers };
}

// Reads a server-sent event stream (GET /v1/stream) until `signal` aborts it or the server
// ends it, calling onEvent(type, data) for each event; rejects with ApiError when refused.
export async function stream(path, signal, onEvent) {
  const init = { headers: { Accept: 'text/event-stream' }, signal };
  const bearer = token.get();
  if (bearer) init.headers.Authorization = `Bearer ${bearer}`;
  const res = await fetch(path, init);
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch { data = null; }
    throw new ApiError(res.status, data);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  let type = '';
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.search(/\r\n|\r|\n/); end >= 0; end = buffer.search(/\r\n|\r|\n/)) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith('\r\n', end) ? 2 : 1));
      if (line === '') {
        if (data.length) onEvent(type || 'message', data.join('\n'));
        type = '';
        data = [];
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let v = colon < 0 ? '' : line.slice(colon + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') type = v;
        else if (field === 'data') data.push(v);
      }
    }
  }
}

export const get = (path) => call('GET', path);
export const put = (path, body) => call('PUT', path, body);
export const patch = (path, body) => call('PATCH', path, body);
export const post = (path, body) => call('POST', path, body);
export const del = (path) => call('DELETE', path);

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}
