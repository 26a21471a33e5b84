// hookpost's public REST API, as the portal calls it: every call carries the portal
// session, every refusal arrives as an ApiError with the envelope's code and message.
// Nothing here reaches anything but the API this page was served from.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `The request failed (HTTP ${status}).`);
    this.status = status;
    this.code = body && body.error ? body.error : 'http_' + status;
    this.issues = body && Array.isArray(body.issues) ? body.issues : [];
  }
}

// The page is at <base>/portal; the API at <base>/api/... (in AWS, <base> is the stage).
const base = location.pathname.replace(/\/portal\/?$/, '');

let session = null;
let whenExpired = () => {};

// Trades a magic link's single-use secret for the session it opens: POST /portal/sessions,
// the one call that carries no session (a 401 when the link was used, revoked or expired).
export async function openLink(link) {
  let res;
  try {
    res = await fetch(`${base}/portal/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ link }),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, { error: 'network', message: 'hookpost could not be reached; check your connection and open the link again.' });
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export function useSession(token, onExpired) {
  session = token;
  whenExpired = onExpired;
}

async function call(method, path, body) {
  const headers = { Authorization: `Bearer ${session}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch {
    throw new ApiError(0, { error: 'network', message: 'hookpost could not be reached; check your connection and try again.' });
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) {
    whenExpired();
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 429) err.retryAfter = Number(res.headers.get('retry-after')) || 5;
    throw err;
  }
  return data;
}

const sub = (id) => `/api/v1/webhook-subscriptions/${encodeURIComponent(id)}`;
const query = (params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? '?' + s : '';
};

export const api = {
  me: () => call('GET', '/api/v1/me'),
  listEndpoints: (params) => call('GET', '/api/v1/webhook-subscriptions' + query(params)),
  getEndpoint: (id) => call('GET', sub(id)),
  createEndpoint: (body) => call('POST', '/api/v1/webhook-subscriptions', body),
  updateEndpoint: (id, body) => call('PATCH', sub(id), body),
  deleteEndpoint: (id) => call('DELETE', sub(id)),
  reactivateEndpoint: (id) => call('POST', sub(id) + '/reactivate'),
  rotateSecret: (id) => call('POST', sub(id) + '/rotate-secret'),
  testEndpoint: (id) => call('POST', sub(id) + '/test'),
  attempts: (id, params) => call('GET', sub(id) + '/attempts' + query(params)),
  failures: (params) => call('GET', '/api/v4/tasks/webhook_failures' + query(params)),
  retrigger: (id) => call('POST', `/api/v4/tasks/webhook_failures/${encodeURIComponent(id)}/retrigger`),
  recover: (body) => call('POST', '/api/v4/tasks/webhook_failures/recover', body),
  eventTypes: (params) => call('GET', '/api/v1/event-types' + query(params)),
  testFilter: (body) => call('POST', '/api/v1/event-filters/test', body),
};
