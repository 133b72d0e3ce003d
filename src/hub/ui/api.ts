// JSON API access. A 401 means the hub wants a login: the app shows the login form.
import type { SessionState } from './types.js';

export class AuthRequired extends Error {
  constructor() { super('log in to continue'); this.name = 'AuthRequired'; }
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) { super(message); this.name = 'ApiError'; }
}

let onAuthRequired: () => void = () => {};
export function setAuthHandler(handler: () => void): void { onAuthRequired = handler; }

export async function getJson<T>(path: string, params?: URLSearchParams): Promise<T> {
  const url = params && [...params.keys()].length ? `${path}?${params.toString()}` : path;
  const res = await fetch(url, { headers: { accept: 'application/json' }, credentials: 'same-origin' });
  if (res.status === 401) { onAuthRequired(); throw new AuthRequired(); }
  const body = await res.json().catch(() => ({})) as { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `${path}: HTTP ${res.status}`);
  return body as T;
}

/** POSTs JSON; a 401 shows the login form, another error status throws ApiError with the hub's message. */
export async function postJson<T>(path: string, body: unknown = {}): Promise<T> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
  const answer = await res.json().catch(() => ({})) as { error?: string };
  if (res.status === 401 && path !== '/api/session') { onAuthRequired(); throw new AuthRequired(); }
  if (!res.ok) throw new ApiError(res.status, answer.error ?? `${path}: HTTP ${res.status}`);
  return answer as T;
}

/** `name` is who the hub records for this session's actions (acknowledgements); "admin" when left empty. */
export async function login(password: string, name = ''): Promise<void> {
  await postJson('/api/session', name.trim() ? { password, name: name.trim() } : { password });
}

export async function logout(): Promise<void> {
  await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin' });
}

export const session = () => getJson<SessionState>('/api/session');
