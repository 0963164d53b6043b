// Who the chat page is: a token pasted by the user (kept in sessionStorage
// for the tab, under the key the other pages use), or anonymous when the
// server lets clients without a token in.
//
// The page tells which the server allows by asking GET /api/me/rooms with
// no credential at all (credentials: 'omit', so no rtbroker_token cookie
// goes either): 200 means anonymous clients are let in, 401 means a token
// is required. A token is checked the same way, with Authorization: Bearer,
// before the socket connects.

const TOKEN_KEY = 'rtbroker.token';

/** storedToken is the tab's token, '' when none. */
export function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) ?? ''; } catch { return ''; }
}

/** storeToken keeps (or, with '', forgets) the tab's token. */
export function storeToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the token lasts as long as the page */ }
}

/**
 * claims decodes a JWT's payload without checking it (the server does):
 * the page only needs sub and exp to show who is signed in. It returns
 * null when the text is not a JWT.
 */
export function claims(token) {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const c = JSON.parse(json);
    return c && typeof c === 'object' && typeof c.sub === 'string' ? c : null;
  } catch {
    return null;
  }
}

/** ApiError is a refused request, with the server's {code, message}. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * api fetches JSON from the server with the token (if any) as
 * Authorization: Bearer; a refusal throws an ApiError with the server's
 * message.
 */
export async function api(path, token, init = {}) {
  const headers = { ...(init.headers ?? {}) };
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(path, { cache: 'no-store', credentials: 'omit', ...init, headers });
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const e = body?.error ?? {};
    throw new ApiError(res.status, e.code ?? 'http_error', e.message ?? `status ${res.status}`);
  }
  return body;
}

/**
 * serverMode asks whether the server lets anonymous clients in:
 * {anonymous: true} or {anonymous: false, reason}. A server that cannot be
 * reached throws.
 */
export async function serverMode() {
  try {
    await api('/api/me/rooms', '');
    return { anonymous: true };
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      return { anonymous: false, reason: err.message };
    }
    throw err;
  }
}

/**
 * checkToken asks the server whether token is accepted; it resolves to the
 * token's claims or throws the server's refusal.
 */
export async function checkToken(token) {
  const c = claims(token);
  if (!c) throw new ApiError(0, 'invalid_argument', 'that is not a JSON Web Token (three base64url parts separated by dots)');
  await api('/api/me/rooms', token);
  return c;
}

/**
 * dmRoom names the direct-message room of users a and b: dm:{a}:{b} with
 * the two subjects in sorted order. It returns '' with a reason when there
 * can be none.
 */
export function dmRoom(a, b) {
  if (!b) return { room: '', reason: 'Type the other user’s id.' };
  if (a === b) return { room: '', reason: 'That is you: a direct message needs two different users.' };
  if (/[^A-Za-z0-9_.@-]/.test(b)) return { room: '', reason: 'A user id for a direct message has letters, digits and _ . @ - only.' };
  const [x, y] = [a, b].sort();
  return { room: `dm:${x}:${y}`, reason: '' };
}

/** dmPeer is the other user of a DM room, or '' when room is not one of me's. */
export function dmPeer(room, me) {
  const m = /^dm:([^:]+):([^:]+)$/.exec(room);
  if (!m) return '';
  if (m[1] === me) return m[2];
  if (m[2] === me) return m[1];
  return '';
}
