// Hub authentication: none on a loopback address unless configured; required on any other address.
// The password (or token — any secret string) is kept only as an scrypt hash; a correct one is
// exchanged for a random session id in an HttpOnly, SameSite=Strict cookie. Sessions live in memory
// (a restart logs everyone out), which keeps the hub usable with a read-only database role.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { ObservError } from '../errors.js';

export const SESSION_COOKIE = 'observ_session';
export const SESSION_TTL_MS = 12 * 3600_000;
const MAX_SESSIONS = 10_000;
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
  private readonly sessions = new Map<string, number>();
  private readonly failures = new Map<string, { count: number; resetAt: number }>();

  constructor(private readonly passwordHash: string) {}

  /** A new session id for a correct password; null otherwise. Five failures per minute per client, then 'throttled'. */
  async login(password: string, client: string): Promise<string | null | 'throttled'> {
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
    this.sessions.set(id, now + SESSION_TTL_MS);
    return id;
  }

  /** Whether the Cookie header carries a live session. Synchronous: uWS handlers read headers synchronously. */
  check(cookieHeader: string): boolean {
    const id = readCookie(cookieHeader, SESSION_COOKIE);
    if (!id) return false;
    const expires = this.sessions.get(id);
    if (expires === undefined) return false;
    if (expires < Date.now()) { this.sessions.delete(id); return false; }
    return true;
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
