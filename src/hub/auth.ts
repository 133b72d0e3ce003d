// Hub authentication: none on a loopback address unless configured; required on any other address.
// The password (or token — any secret string) is kept only as an scrypt hash; a correct one is
// exchanged for a random session id in an HttpOnly, SameSite=Strict cookie. Sessions live in memory
// (a restart logs everyone out), which keeps the hub usable with a read-only database role.
//
// Who did something (acknowledged an alert, sent a test notification): the hub has one password, so
// a session carries the name given at login (optional, "admin" when none is given); a hub without
// auth (loopback only) records "local". See requestUser().
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ObservError } from '../errors.js';
import { BadRequest } from './api/params.js';

export const SESSION_COOKIE = 'observ_session';
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 10_000;
/** Recorded for a session whose login gave no name. */
export const DEFAULT_USER = 'admin';
/** Recorded for requests to a hub that runs without auth (it then listens on loopback only). */
export const LOCAL_USER = 'local';
const USER_NAME = /^[^\u0000-\u001f\u007f]{1,64}$/;

/** The (parsed JSON) body of POST /api/session: `{"password": "…", "name": "…"}` (name optional). */
export function loginFields(body: Record<string, unknown>): { password: string; name: string } {
  const { password, name } = body;
  if (typeof password !== 'string' || !password) throw new BadRequest('password is required');
  if (name === undefined || name === null || (typeof name === 'string' && !name.trim())) return { password, name: DEFAULT_USER };
  if (typeof name !== 'string' || !USER_NAME.test(name.trim())) throw new BadRequest('name must be 1 to 64 printable characters');
  return { password, name: name.trim() };
}

/** Who a request acts as: its session's name when auth is on (null without a live session), else "local". */
export function requestUser(auth: SessionAuth | null, cookieHeader: string): string | null {
  return auth ? auth.user(cookieHeader) : LOCAL_USER;
}
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

function scrypt(password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, { ...options, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export function isPasswordHash(value: string): boolean {
  return /^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9_-]+\$[A-Za-z0-9_-]+$/.test(value);
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  if (!isPasswordHash(stored)) return false;
  const [, n, r, p, salt, hash] = stored.split('$') as [string, string, string, string, string, string];
  const expected = Buffer.from(hash, 'base64url');
  const key = await scrypt(password, Buffer.from(salt, 'base64url'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export interface AuthConfig {
  /** A plain password or token; hashed at startup and not kept. */
  password?: string;
  /** An scrypt hash as made by hashPassword(). */
  passwordHash?: string;
}

/**
 * Resolves the hub's auth from options, then OBSERV_HUB_PASSWORD_HASH / OBSERV_HUB_PASSWORD.
 * Returns null (no auth) on loopback without configuration; refuses any other address without one.
 */
export async function resolveAuth(host: string, loopback: boolean, config: AuthConfig | undefined, env: NodeJS.ProcessEnv = process.env): Promise<SessionAuth | null> {
  const hash = config?.passwordHash ?? env.OBSERV_HUB_PASSWORD_HASH;
  const password = config?.password ?? env.OBSERV_HUB_PASSWORD;
  if (hash !== undefined && hash !== '') {
    if (!isPasswordHash(hash)) throw new ObservError('OBS_ERR_CONFIG', 'OBSERV_HUB_PASSWORD_HASH is not an scrypt hash of the form scrypt$N$r$p$salt$hash');
    return new SessionAuth(hash);
  }
  if (password !== undefined && password !== '') {
    if (password.length < 12) throw new ObservError('OBS_ERR_CONFIG', 'OBSERV_HUB_PASSWORD must be at least 12 characters');
    return new SessionAuth(await hashPassword(password));
  }
  if (loopback) return null;
  throw new ObservError('OBS_ERR_CONFIG',
    `refusing to listen on ${host} without authentication. Fix: set OBSERV_HUB_PASSWORD (at least 12 characters) ` +
    `or OBSERV_HUB_PASSWORD_HASH in the hub's environment, or listen on 127.0.0.1 (--host 127.0.0.1) behind your own proxy`);
}

export function readCookie(header: string, name: string): string | null {
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

export class SessionAuth {
  private readonly sessions = new Map<string, { expires: number; user: string }>();
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly passwordHash: string) {}

  /** A new session id for a correct password; null otherwise. Five failures per minute per client, then 'throttled'. */
  async login(password: string, client: string, user = DEFAULT_USER): Promise<string | null | 'throttled'> {
    const now = Date.now();
    const f = this.failures.get(client);
    if (f && f.resetAt > now && f.count >= 5) return 'throttled';
    if (!(await verifyPassword(password, this.passwordHash))) {
      if (this.failures.size > MAX_SESSIONS) this.failures.clear();
      const cur = f && f.resetAt > now ? f : { count: 0, resetAt: now + 60_000 };
      cur.count++;
      this.failures.set(client, cur);
      return null;
    }
    this.failures.delete(client);
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { expires: now + SESSION_TTL_MS, user });
    return id;
  }

  /** Whether the Cookie header carries a live session. Synchronous: uWS handlers read headers synchronously. */
  check(cookieHeader: string): boolean {
    return this.user(cookieHeader) !== null;
  }

  /** The name the live session in the Cookie header logged in with; null without one. */
  user(cookieHeader: string): string | null {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (!id) return null;
    const session = this.sessions.get(id);
    if (session === undefined) return null;
    if (session.expires < Date.now()) { this.sessions.delete(id); return null; }
    return session.user;
  }

  logout(cookieHeader: string): void {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (id) this.sessions.delete(id);
  }

  static cookie(id: string, secure: boolean): string {
    return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}${secure ? '; Secure' : ''}`;
  }

  static clearCookie(): string {
    return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
  }
}
