// JSON API access. A 401 means the hub wants a login: the app shows the login form.

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

export async function login(password: string): Promise<void> {
  const res = await fetch('/api/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }), credentials: 'same-origin' });
  if (!res.ok) throw new ApiError(res.status, ((await res.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${res.status}`);
}

export async function logout(): Promise<void> {
  await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin' });
}

export interface SessionState { authRequired: boolean; authenticated: boolean }
export const session = () => getJson<SessionState>('/api/session');
