// Every call the console makes goes through here: the same API, the same roles, with the console's header and either the
// pasted development token (Development) or the session cookie (OpenID Connect sign-in).

const TOKEN_KEY = 'cpsledger.console.token';

export const session = {
  get token() { return sessionStorage.getItem(TOKEN_KEY); },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** An answer other than 2xx, carrying the RFC 9457 problem details the API sent. */
export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }

  /** Field errors keyed by JSON field name (400). */
  get fieldErrors() { return this.problem.errors || {}; }
}

export async function api(path, { method = 'GET', body, query, idempotencyKey } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  const headers = headersAccepting('application/json');
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    // A change reviewed once is written at most once, however often "Write it" is pressed: the key is made at review time.
    headers['Idempotency-Key'] = idempotencyKey || crypto.randomUUID();
  }
  const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  if (!response.ok) throw await problemOf(response);
  return (response.headers.get('Content-Type') || '').includes('json') ? response.json() : response.text();
}

// The console's header and, in Development, the pasted token: every call carries them.
function headersAccepting(accept) {
  const headers = { 'X-CpsLedger-Console': '1', Accept: accept };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  return headers;
}

// The problem details of an answer other than 2xx (a plain-text answer becomes its detail).
async function problemOf(response) {
  const type = response.headers.get('Content-Type') || '';
  return new ApiError(response.status, type.includes('json') ? await response.json() : { detail: await response.text() });
}

/**
 * A document the API serves (an invoice's PDF, a credit note's), saved as the file the API names: a plain link would carry
 * neither the console's header nor the pasted token.
 */
export async function download(path) {
  const response = await fetch(new URL(path, window.location.origin),
    { headers: headersAccepting('application/pdf, application/problem+json'), credentials: 'same-origin' });
  if (!response.ok) throw await problemOf(response);
  const name = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(response.headers.get('Content-Disposition') || '')?.[1];
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement('a'), { href: url, download: decodeURIComponent(name || path.split('/').at(-2)) });
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the file once the click is handled; the blob is not kept for the page's lifetime.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
