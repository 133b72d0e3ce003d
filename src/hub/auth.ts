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
  // The quotes of `observ hash-password`'s line survive an env file read by something other than a shell.
  const hash = (config?.passwordHash ?? env.OBSERV_HUB_PASSWORD_HASH)?.trim().replace(/^'(.*)'$|^"(.*)"$/, '$1$2');
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

/** Failed logins a client may make per window before it gets 429 (counted before the scrypt work). */
export const LOGIN_FAILURES_PER_WINDOW = 5;
export const LOGIN_WINDOW_MS = 60_000;
/** scrypt checks at once (each takes ~16 MB and a libuv thread for tens of ms), and how many may queue behind them. */
export const MAX_CONCURRENT_SCRYPT = 2;
export const MAX_QUEUED_SCRYPT = 16;
const MAX_CLIENTS_TRACKED = 10_000;

/**
 * How many proxies in front of the hub may be believed about the client's address
 * (OBSERV_HUB_TRUST_PROXY: unset or 0 = none, trust no header; 1–5 = that many hops, whose
 * X-Forwarded-For entries are taken from the right). Throws a config error naming the variable.
 */
export function trustProxyHops(env: NodeJS.ProcessEnv = process.env): number {
  const v = (env.OBSERV_HUB_TRUST_PROXY ?? '').trim().toLowerCase();
  if (v === '' || v === '0' || v === 'false' || v === 'no') return 0;
  if (v === 'true' || v === 'yes') return 1;
  if (/^[1-5]$/.test(v)) return Number(v);
  throw new ObservError('OBS_ERR_CONFIG', `OBSERV_HUB_TRUST_PROXY must be 0–5 (the number of proxies in front of the hub), or true/false (got ${JSON.stringify(v.slice(0, 20))})`);
}

/**
 * The key a login is throttled by: the real client's address. The socket's peer, unless the
 * operator says `hops` proxies stand in front (then the address the outermost trusted proxy saw,
 * counted from the right of X-Forwarded-For, where a client cannot write). IPv6 addresses are keyed
 * by their /64, which one machine usually holds whole.
 */
export function clientKey(socketAddress: string, forwardedFor: string | undefined, hops = 0): string {
  let address = socketAddress;
  if (hops > 0 && forwardedFor) {
    const chain = forwardedFor.split(',').map((x) => x.trim()).filter(Boolean);
    const picked = chain[chain.length - hops] ?? chain[0];
    if (picked) address = picked;
  }
  address = address.toLowerCase().replace(/^\[|\](:\d+)?$/g, '');
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (address.includes(':')) return ipv6Prefix64(address);
  return address.slice(0, 64);
}

function ipv6Prefix64(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = address.includes('::') ? [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t] : h;
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':') + '::/64';
}

export class SessionAuth {
  private readonly sessions = new Map<string, { expires: number; user: string }>();
  /** Per client key: failures (and attempts in flight) in the current window. Insertion order = age. */
  private readonly failures = new Map<string, { count: number; resetAt: number }>();
  private scryptActive = 0;
  private readonly scryptQueue: Array<() => void> = [];
  /** Counters for tests and /api/status. */
  readonly loginStats = { verified: 0, throttled: 0, busy: 0 };

  constructor(private readonly passwordHash: string) {}

  /**
   * A new session id for a correct password; null for a wrong one; 'throttled' when the client used
   * its failures of this window (LOGIN_FAILURES_PER_WINDOW per LOGIN_WINDOW_MS), or the hub is
   * already busy checking passwords. An attempt counts as a failure from the moment it starts, so
   * parallel attempts cannot all reach the scrypt check; a correct password gives its count back.
   * `client` is clientKey() of the request; `user` the name given at login.
   */
  async login(password: string, client: string, user = DEFAULT_USER): Promise<string | null | 'throttled'> {
    const now = Date.now();
    let f = this.failures.get(client);
    if (!f || f.resetAt <= now) {
      this.failures.delete(client);
      if (this.failures.size >= MAX_CLIENTS_TRACKED) this.evictClients(now);
      f = { count: 0, resetAt: now + LOGIN_WINDOW_MS };
      this.failures.set(client, f);
    }
    if (f.count >= LOGIN_FAILURES_PER_WINDOW) { this.loginStats.throttled++; return 'throttled'; }
    f.count++;
    if (!(await this.scryptSlot())) { this.loginStats.busy++; return 'throttled'; }
    let ok: boolean;
    try {
      ok = await verifyPassword(password, this.passwordHash);
    } finally {
      this.releaseScrypt();
    }
    this.loginStats.verified++;
    if (!ok) return null;
    f.count = Math.max(0, f.count - 1);
    if (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const id = randomBytes(32).toString('base64url');
    this.sessions.set(id, { expires: now + SESSION_TTL_MS, user });
    return id;
  }

  /** Seconds until `client` may try again (for a Retry-After header); 0 when it may now. */
  retryAfterSeconds(client: string): number {
    const f = this.failures.get(client);
    if (!f || f.count < LOGIN_FAILURES_PER_WINDOW || f.resetAt <= Date.now()) return this.scryptQueue.length >= MAX_QUEUED_SCRYPT ? 1 : 0;
    return Math.max(1, Math.ceil((f.resetAt - Date.now()) / 1000));
  }

  private evictClients(now: number): void {
    for (const [key, f] of this.failures) if (f.resetAt <= now) this.failures.delete(key);
    // Still full: the oldest windows go (a flood of fresh keys cannot grow memory without bound).
    for (const key of this.failures.keys()) {
      if (this.failures.size < MAX_CLIENTS_TRACKED) break;
      this.failures.delete(key);
    }
  }

  private scryptSlot(): Promise<boolean> {
    if (this.scryptActive < MAX_CONCURRENT_SCRYPT) { this.scryptActive++; return Promise.resolve(true); }
    if (this.scryptQueue.length >= MAX_QUEUED_SCRYPT) return Promise.resolve(false);
    return new Promise((resolve) => this.scryptQueue.push(() => { this.scryptActive++; resolve(true); }));
  }

  private releaseScrypt(): void {
    this.scryptActive--;
    this.scryptQueue.shift()?.();
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
