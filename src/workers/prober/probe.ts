// One HTTP(S) probe under one hard deadline that covers DNS, connect, TLS, headers, body and every
// redirect hop. node:http / node:tls only: no agent, no pool, a fresh connection per probe (and per
// hop), so the figure is what a new visitor sees, and nothing lingers after the deadline.
//
//   connect (DNS + TCP [+ TLS, verified here, before any request byte is sent])
//     └─► request ─► headers ─► [redirect? back to connect] ─► body (first 64 KiB kept) ─► judge
//
// The TLS socket is opened with rejectUnauthorized: false and verified by hand on secureConnect:
// that is the only way to read the peer certificate of an invalid chain (to report days left on
// an expired certificate), and the connection is destroyed before the request is written, so
// configured headers (Authorization …) never reach an unverified peer.

import type * as Http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import type * as Tls from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { BodyExpectation, HealthCheckConfig, StatusRange } from '../../supervisor/config.js';
import type { ProbeResult } from '../../supervisor/messages.js';

const require = createRequire(import.meta.url);
// node:http by require, not by an ES-module import: on Node 22/24 the import evaluates node:http's
// lazy WebSocket exports, which load Node's bundled undici (nodejs/node#59686): +3–4 MB RSS.
const http = require('node:http') as typeof Http;
// node:tls on the first https:// check only: loading it costs 2.8–3.1 MB RSS on Node 22/24 (0.3 MB
// on 20) and a typical agent probes http://localhost (bench/agent-footprint breakdown).
let tlsModule: typeof Tls | undefined;
const loadTls = () => (tlsModule ??= require('node:tls') as typeof Tls);

/** The parts of a health check a probe needs (HealthCheckConfig satisfies it). */
export type ProbeTarget = Pick<HealthCheckConfig, 'url' | 'timeout' | 'method' | 'headers' | 'expectStatus' | 'expectBody' | 'followRedirects'>;

export interface ProbeOptions {
  /** Aborts the probe (agent stopping). The result then says "aborted" and should be discarded. */
  signal?: AbortSignal;
  /** Overrides `target.timeout` (seconds) with milliseconds. */
  timeoutMs?: number;
  /** Trusted CA certificates, replacing the system store (private CAs, tests). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Bytes of body kept for expect_body; the rest is read and discarded. Default 64 KiB. */
  maxBodyBytes?: number;
  /** Default 5. */
  maxRedirects?: number;
  /** Wall clock (for the timestamp and certificate days). */
  now?: () => number;
}

export const PROBE_DEFAULTS = { maxBodyBytes: 64 * 1024, maxRedirects: 5, userAgent: 'observ-agent-probe' };

const MAX_ERROR_CHARS = 200;
const DAY_MS = 86_400_000;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers not to forward when a redirect leaves the configured origin. */
const ORIGIN_BOUND_HEADERS = new Set(['authorization', 'cookie', 'proxy-authorization']);

class DeadlineError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`timeout after ${timeoutMs} ms`);
  }
}
class AbortedError extends Error {
  constructor() {
    super('aborted');
  }
}
/** The certificate chain or host name did not verify; `code` is Node's/OpenSSL's (CERT_HAS_EXPIRED …). */
class TlsVerifyError extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}
/** A probe-level failure whose message is already the final errorMessage. */
class ProbeFailure extends Error {}

// ───────────────────────── pure helpers ─────────────────────────

export function statusMatches(status: number, ranges: readonly StatusRange[]): boolean {
  return ranges.some((r) => status >= r.min && status <= r.max);
}

/** Null when the body satisfies the expectation, else the errorMessage. */
export function judgeBody(body: string, expect: BodyExpectation | null): string | null {
  if (!expect) return null;
  if (expect.kind === 'substring') {
    return body.includes(expect.value) ? null : `body did not contain ${JSON.stringify(clip(expect.value, 60))}`;
  }
  // A fresh RegExp each time: a /g or /y flag would otherwise carry lastIndex between probes.
  return new RegExp(expect.value, expect.flags).test(body) ? null : `body did not match /${clip(expect.value, 60)}/${expect.flags}`;
}

/** Whole days until `validTo` (negative once expired), from a certificate's valid_to string. */
export function certDaysLeftFrom(validTo: string | undefined, nowMs: number): number | null {
  if (!validTo) return null;
  const t = Date.parse(validTo);
  return Number.isFinite(t) ? Math.floor((t - nowMs) / DAY_MS) : null;
}

/** The short errorMessage for a failure. */
export function describeProbeError(err: unknown, host: string): string {
  if (err instanceof DeadlineError || err instanceof TlsVerifyError || err instanceof ProbeFailure || err instanceof AbortedError) {
    return clip(err.message, MAX_ERROR_CHARS);
  }
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = typeof e?.code === 'string' ? e.code : undefined;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'EAI_NONAME') return clip(`${code} ${host}`, MAX_ERROR_CHARS);
  if (code?.startsWith('HPE_')) return clip(`invalid HTTP response (${code})`, MAX_ERROR_CHARS);
  if (code === 'ECONNRESET' && e.message === 'socket hang up') return 'ECONNRESET (connection closed before the response)';
  if (code) return clip(code, MAX_ERROR_CHARS);
  return clip(e?.message ?? String(err), MAX_ERROR_CHARS);
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

// ─────────────────────────── the probe ───────────────────────────

export async function probeOnce(target: ProbeTarget, options: ProbeOptions = {}): Promise<ProbeResult> {
  const now = options.now ?? Date.now;
  const timestamp = new Date(now()).toISOString();
  const timeoutMs = options.timeoutMs ?? target.timeout * 1000;
  const started = performance.now();
  const controller = new AbortController();
  const deadline = setTimeout(() => controller.abort(new DeadlineError(timeoutMs)), timeoutMs);
  const onOuterAbort = () => controller.abort(new AbortedError());
  if (options.signal?.aborted) onOuterAbort();
  else options.signal?.addEventListener('abort', onOuterAbort, { once: true });

  const state: ProbeState = { certDaysLeft: null, statusCode: null, host: '', sockets: new Set() };
  const destroyAll = () => {
    for (const s of state.sockets) s.destroy();
  };
  controller.signal.addEventListener('abort', destroyAll, { once: true });

  let errorMessage: string | null = null;
  try {
    errorMessage = await run(target, options, controller.signal, state, now);
  } catch (err) {
    // After an abort, whatever error surfaced first (ECONNRESET from the destroyed socket …) is
    // a consequence; the abort reason is the cause.
    errorMessage = describeProbeError(controller.signal.aborted ? controller.signal.reason : err, state.host);
  } finally {
    clearTimeout(deadline);
    options.signal?.removeEventListener('abort', onOuterAbort);
    destroyAll();
  }
  return {
    timestamp,
    url: target.url,
    statusCode: state.statusCode,
    responseTimeMs: round1(performance.now() - started),
    success: errorMessage === null,
    errorMessage,
    certDaysLeft: state.certDaysLeft,
  };
}

interface ProbeState {
  certDaysLeft: number | null;
  statusCode: number | null;
  host: string;
  sockets: Set<net.Socket>;
}

/** Follows the hops; returns null on success or the errorMessage. Throws on transport failures. */
async function run(target: ProbeTarget, options: ProbeOptions, signal: AbortSignal, state: ProbeState, now: () => number): Promise<string | null> {
  const maxRedirects = options.maxRedirects ?? PROBE_DEFAULTS.maxRedirects;
  const origin = new URL(target.url).origin;
  let url = new URL(target.url);
  let method = target.method;
  for (let hop = 0; ; hop++) {
    state.host = url.hostname;
    state.statusCode = null;
    const socket = await connect(url, signal, state, options.ca, now);
    const headers = requestHeaders(target.headers, url, url.origin !== origin);
    const res = await request(socket, url, method, headers, signal);
    state.statusCode = res.statusCode ?? null;
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (target.followRedirects && REDIRECTS.has(status) && location) {
      res.destroy();
      socket.destroy();
      state.sockets.delete(socket);
      if (hop + 1 > maxRedirects) return `too many redirects (more than ${maxRedirects})`;
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        return clip(`invalid redirect location ${JSON.stringify(location)}`, MAX_ERROR_CHARS);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') return clip(`redirect to unsupported ${next.protocol} URL`, MAX_ERROR_CHARS);
      // As browsers do: 303 always becomes GET, and so does a POST answered with 301/302.
      if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') method = 'GET';
      url = next;
      continue;
    }
    // The body is read (bounded) even when the status already failed: the deadline covers the
    // whole response, and a server that stalls mid-body is unhealthy either way.
    const body = method === 'HEAD' ? '' : await readBody(res, options.maxBodyBytes ?? PROBE_DEFAULTS.maxBodyBytes, signal);
    if (!statusMatches(status, target.expectStatus)) return `HTTP ${status}`;
    return judgeBody(body, target.expectBody);
  }
}

function requestHeaders(configured: Readonly<Record<string, string>>, url: URL, crossOrigin: boolean): Record<string, string> {
  const out: Record<string, string> = {
    host: url.host,
    'user-agent': PROBE_DEFAULTS.userAgent,
    accept: '*/*',
    connection: 'close',
  };
  for (const [name, value] of Object.entries(configured)) {
    const lower = name.toLowerCase();
    if (crossOrigin && ORIGIN_BOUND_HEADERS.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}

/** Rejects with the abort reason as soon as `signal` aborts. */
function untilAbort(signal: AbortSignal): { promise: Promise<never>; cancel: () => void } {
  let onAbort!: () => void;
  const promise = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => {});
  return { promise, cancel: () => signal.removeEventListener('abort', onAbort) };
}

async function withAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  const abort = untilAbort(signal);
  try {
    return await Promise.race([work, abort.promise]);
  } finally {
    abort.cancel();
  }
}

function connect(url: URL, signal: AbortSignal, state: ProbeState, ca: ProbeOptions['ca'], now: () => number): Promise<net.Socket> {
  // URL keeps IPv6 literals bracketed ("[::1]"); sockets want them bare.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const secure = url.protocol === 'https:';
  const port = Number(url.port) || (secure ? 443 : 80);
  const work = new Promise<net.Socket>((resolve, reject) => {
    const socket: net.Socket = secure
      ? loadTls().connect({
        host,
        port,
        // SNI must not be an IP address (RFC 6066); identity is still checked against `host`.
        servername: net.isIP(host) ? undefined : host,
        rejectUnauthorized: false,
        ALPNProtocols: ['http/1.1'],
        ...(ca ? { ca } : {}),
      })
      : net.connect({ host, port });
    state.sockets.add(socket);
    socket.once('error', reject);
    socket.once(secure ? 'secureConnect' : 'connect', () => {
      socket.off('error', reject);
      if (secure) {
        const tlsSocket = socket as Tls.TLSSocket;
        const days = certDaysLeftFrom(tlsSocket.getPeerCertificate()?.valid_to, now());
        // The first certificate seen is the configured endpoint's; later hops keep it.
        if (state.certDaysLeft === null) state.certDaysLeft = days;
        if (!tlsSocket.authorized) {
          socket.destroy();
          const reason = tlsSocket.authorizationError as unknown;
          reject(new TlsVerifyError(typeof reason === 'string' ? reason : (reason as Error)?.message ?? 'TLS verification failed'));
          return;
        }
      }
      resolve(socket);
    });
  });
  return withAbort(signal, work);
}

function request(socket: net.Socket, url: URL, method: string, headers: Record<string, string>, signal: AbortSignal): Promise<Http.IncomingMessage> {
  const work = new Promise<Http.IncomingMessage>((resolve, reject) => {
    const req = http.request({
      method,
      path: `${url.pathname}${url.search}`,
      headers,
      // Our own, already verified socket: no agent, no pool, no keep-alive.
      createConnection: () => socket,
    });
    // `on`, not `once`: a destroyed request can emit a second error, which must not go unhandled.
    req.on('error', reject);
    req.once('response', (res) => {
      res.on('error', () => {}); // surfaced through readBody; later ones (after an abort) are moot
      resolve(res);
    });
    req.end();
  });
  return withAbort(signal, work);
}

function readBody(res: Http.IncomingMessage, maxBytes: number, signal: AbortSignal): Promise<string> {
  const work = new Promise<string>((resolve, reject) => {
    const kept: Buffer[] = [];
    let keptBytes = 0;
    res.on('data', (chunk: Buffer) => {
      if (keptBytes >= maxBytes) return;
      const slice = chunk.length > maxBytes - keptBytes ? chunk.subarray(0, maxBytes - keptBytes) : chunk;
      kept.push(slice);
      keptBytes += slice.length;
    });
    res.once('end', () => resolve(Buffer.concat(kept, keptBytes).toString('utf8')));
    res.once('error', reject);
    res.once('close', () => {
      if (!res.complete) reject(Object.assign(new Error('response body cut short'), { code: 'ECONNRESET' }));
    });
  });
  return withAbort(signal, work);
}
