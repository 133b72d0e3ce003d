// The hub's one route table, shared by both transports, and the request policy every request passes
// before a route sees it:
//
//   request ─► Host allowed? (421) ─► /api and /live: same origin? (403) ─► route match (404 JSON / 405)
//           ─► POST: application/json? (415) ─► auth (401) ─► per-client concurrency (429) ─► handler
//   every response: nosniff, referrer-policy, CSP, frame-ancestors none; HSTS behind https
//
// The loopback hub trusts the machine, not the browser: a page on another origin (another localhost
// port, a rebinding DNS name) can make the browser send requests here, so the Host must be one of
// the hub's own names, and API reads, WebSocket upgrades and every state change must come from the
// dashboard's own origin. See docs/security.md.

import { isIP } from 'node:net';
import type { HubRequest, HubResponse } from './transport/types.js';

export interface RouteRequest extends HubRequest {
  readonly query: URLSearchParams;
  /** Values of the pattern's `:name` segments, in order. */
  readonly params: string[];
  /** The client's address (X-Forwarded-For's last hop when the proxy is trusted). */
  readonly client: string;
}

export type RouteHandler = (req: RouteRequest) => Promise<HubResponse> | HubResponse;

interface Route {
  method: 'GET' | 'POST' | 'DELETE';
  segments: string[];
  handler: RouteHandler;
}

export type RouteMatch = { handler: RouteHandler; params: string[] } | { allow: string[] } | null;

export class RouteTable {
  private readonly routes: Route[] = [];

  get(pattern: string, handler: RouteHandler): this { return this.add('GET', pattern, handler); }
  post(pattern: string, handler: RouteHandler): this { return this.add('POST', pattern, handler); }
  del(pattern: string, handler: RouteHandler): this { return this.add('DELETE', pattern, handler); }

  private add(method: Route['method'], pattern: string, handler: RouteHandler): this {
    this.routes.push({ method, segments: pattern.split('/').slice(1), handler });
    return this;
  }

  /** The route for method and path; HEAD is served by the GET route. `{ allow }` when only the method is wrong. */
  match(method: string, path: string): RouteMatch {
    const parts = path.split('/').slice(1);
    const want = method === 'HEAD' ? 'GET' : method;
    const allow: string[] = [];
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === want) return { handler: route.handler, params };
      allow.push(route.method, ...(route.method === 'GET' ? ['HEAD'] : []));
    }
    return allow.length ? { allow } : null;
  }

  /** Every pattern and method, for the docs test and the 405 Allow header. */
  list(): { method: string; pattern: string }[] {
    return this.routes.map((r) => ({ method: r.method, pattern: '/' + r.segments.join('/') }));
  }
}

function matchSegments(pattern: string[], parts: string[]): string[] | null {
  if (pattern.length !== parts.length) return null;
  const params: string[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    if (p.startsWith(':')) {
      if (!parts[i]) return null;
      let value: string;
      try { value = decodeURIComponent(parts[i]!); } catch { return null; }
      params.push(value);
    } else if (p !== parts[i]) return null;
  }
  return params;
}

// ---- responses ----

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

// Log text is untrusted: the dashboard renders it as text only, and the CSP forbids inline script.
export const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HubResponse {
  return {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: body === null ? '' : JSON.stringify(body),
  };
}

/** An error with an HTTP status (`status` is a number or a '400 Bad Request'-style line). */
export function statusOf(err: unknown): number | null {
  const s = (err as { status?: unknown })?.status;
  if (typeof s === 'number') return s;
  if (typeof s === 'string') { const n = Number.parseInt(s, 10); return Number.isInteger(n) ? n : null; }
  return null;
}

// ---- Host and Origin ----

/** Whether `host` (a bind address) is a loopback address or the name localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  if (h === 'localhost') return true;
  const kind = isIP(h);
  if (kind === 4) return h.startsWith('127.');
  if (kind === 6) return h === '::1' || /^::ffff:127\./.test(h);
  return false;
}

/**
 * The host names the hub answers to (the Host header without its port, or with it where an allowed
 * entry names one). On a loopback bind: its loopback names, plus the public URL's host and
 * OBSERV_HUB_ALLOWED_HOSTS. A rebinding DNS name is what this refuses; the port carries no trust.
 * On any other bind, any Host unless OBSERV_HUB_ALLOWED_HOSTS narrows it (auth is required there,
 * and the session cookie is bound to the name). null means any.
 */
export function allowedHosts(bindHost: string, extra: string[]): Set<string> | null {
  const set = new Set<string>();
  for (const h of extra) if (h.trim()) set.add(h.trim().toLowerCase());
  if (!isLoopback(bindHost)) return set.size ? set : null;
  const bind = bindHost.includes(':') && !bindHost.startsWith('[') ? `[${bindHost}]` : bindHost;
  for (const n of ['127.0.0.1', 'localhost', '[::1]', bind]) set.add(n.toLowerCase());
  return set;
}

export function hostAllowed(hostHeader: string, allowed: Set<string> | null): boolean {
  if (allowed === null) return true;
  const host = hostHeader.toLowerCase();
  return allowed.has(host) || allowed.has(host.replace(/:\d+$/, ''));
}

/**
 * Whether a browser says this request comes from another origin. Non-browser clients (curl, agents,
 * uptime checkers) send neither header and pass. `Sec-Fetch-Site: same-site` is refused too: a page
 * on another port of the same machine is same-site but not same-origin.
 */
export function crossOrigin(req: HubRequest): boolean {
  const site = req.header('sec-fetch-site');
  if (site && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.header('origin');
  if (!origin) return false;
  if (origin === 'null') return true;
  try {
    return new URL(origin).host.toLowerCase() !== req.header('host').toLowerCase();
  } catch {
    return true;
  }
}

/** The client key for limits: the socket address, or the last X-Forwarded-For hop when the proxy is trusted. */
export function clientAddress(req: HubRequest, trustProxy: boolean): string {
  if (trustProxy) {
    const xff = req.header('x-forwarded-for');
    if (xff) return xff.split(',').pop()!.trim() || req.remoteAddress;
  }
  return req.remoteAddress;
}

// ---- concurrency ----

/** At most `perClient` requests in flight per client key; past it a 429, not a queue. */
export class ClientLimiter {
  private readonly inFlight = new Map<string, number>();
  constructor(readonly perClient: number, readonly total: number, private readonly what: string) {}
  private sum = 0;

  async run<T>(client: string, work: () => Promise<T>): Promise<T> {
    const n = this.inFlight.get(client) ?? 0;
    if (n >= this.perClient || this.sum >= this.total) {
      throw Object.assign(new Error(`too many ${this.what} in progress${n >= this.perClient ? ' from this client' : ''}; try again shortly`), { status: 429 });
    }
    this.inFlight.set(client, n + 1);
    this.sum++;
    try {
      return await work();
    } finally {
      this.sum--;
      const left = (this.inFlight.get(client) ?? 1) - 1;
      if (left <= 0) this.inFlight.delete(client); else this.inFlight.set(client, left);
    }
  }
}
