// Real servers on 127.0.0.1 for the prober tests, and certificates made with the openssl CLI.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface TestServer {
  base: string;
  /** Requests seen, by path. */
  requests: http.IncomingMessage[];
  /** Sockets that were closed by the client or the server. */
  closedSockets: number;
}

export async function startServer(t: TestContext, handler: Handler, tls?: { key: string; cert: string }): Promise<TestServer> {
  const requests: http.IncomingMessage[] = [];
  const server = tls ? https.createServer({ key: tls.key, cert: tls.cert }) : http.createServer();
  const state: TestServer = { base: '', requests, closedSockets: 0 };
  server.on('request', (req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on(tls ? 'secureConnection' : 'connection', (socket) => socket.on('close', () => state.closedSockets++));
  // TLS handshakes the client rejects surface here; they are expected in these tests.
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  state.base = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/** A port nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export function hasOpenssl(): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface TestCert {
  key: string;
  cert: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A self-signed certificate valid from now for `days`, for the given subjectAltName. */
export function selfSignedCert(t: TestContext, days: number, san = 'IP:127.0.0.1,DNS:localhost'): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'observ-cert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync('openssl', ['req', '-x509', ...EC, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-days', String(days), '-subj', '/CN=observ-test', '-addext', `subjectAltName=${san}`], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

/**
 * A self-signed certificate whose validity ended in the past. `openssl req -x509` only counts days
 * forward; `openssl ca` accepts explicit start and end dates.
 */
export function expiredCert(t: TestContext, notBefore: string, notAfter: string): TestCert {
  const dir = mkdtempSync(join(tmpdir(), 'observ-cert-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'newcerts'));
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), '01\n');
  writeFileSync(join(dir, 'ca.cnf'), [
    '[ca]', 'default_ca = test_ca', '[test_ca]', `dir = ${dir}`, 'database = $dir/index.txt',
    'new_certs_dir = $dir/newcerts', 'serial = $dir/serial', 'default_md = sha256', 'policy = any',
    'copy_extensions = copy', '[any]', 'commonName = supplied', '',
  ].join('\n'));
  execFileSync('openssl', ['req', '-new', ...EC, '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'req.csr'),
    '-subj', '/CN=observ-test', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  execFileSync('openssl', ['ca', '-batch', '-config', join(dir, 'ca.cnf'), '-selfsign', '-keyfile', join(dir, 'key.pem'),
    '-in', join(dir, 'req.csr'), '-out', join(dir, 'cert.pem'), '-startdate', notBefore, '-enddate', notAfter], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}
