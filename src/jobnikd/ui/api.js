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
