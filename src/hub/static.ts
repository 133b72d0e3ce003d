// The built dashboard, held in memory with its gzip and ETag: every path without an extension is the
// single-page app's index.html (the app routes on the client).

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { join, extname } from 'node:path';
import type { HubRequest, HubResponse } from './transport/types.js';
import { CSP } from './routes.js';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.map': 'application/json',
};

interface StaticFile {
  body: Buffer;
  gzip: Buffer | null;
  type: string;
  etag: string;
  immutable: boolean;
}

export class StaticFiles {
  private readonly files = new Map<string, StaticFile>();

  constructor(dir: string) {
    if (!existsSync(dir)) return;
    const walk = (sub: string) => {
      for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
        const rel = sub ? `${sub}/${entry.name}` : entry.name;
        if (entry.isDirectory()) { walk(rel); continue; }
        const body = readFileSync(join(dir, rel));
        const type = CONTENT_TYPES[extname(entry.name)] ?? 'application/octet-stream';
        const gz = /text|javascript|json|svg/.test(type) && body.length > 512 ? gzipSync(body, { level: 9 }) : null;
        this.files.set('/' + rel, {
          body, gzip: gz, type,
          etag: '"' + createHash('sha1').update(body).digest('base64url').slice(0, 16) + '"',
          // Bundles are content-hashed (assets/…); index.html must always revalidate.
          immutable: rel.startsWith('assets/'),
        });
      }
    };
    walk('');
  }

  get hasIndex(): boolean { return this.files.has('/index.html'); }

  /** The response for a GET/HEAD of `path`, or null when there is no such file. */
  serve(req: HubRequest): HubResponse | null {
    let path = req.path;
    if (path === '/' || !extname(path)) path = '/index.html';
    const file = this.files.get(path);
    if (!file) return null;
    const headers: Record<string, string> = {
      'content-type': file.type,
      etag: file.etag,
      'cache-control': file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'content-security-policy': CSP,
      vary: 'accept-encoding',
    };
    if (req.header('if-none-match') === file.etag) return { status: 304, headers: { etag: file.etag }, body: '' };
    if (file.gzip && /\bgzip\b/.test(req.header('accept-encoding'))) return { status: 200, headers: { ...headers, 'content-encoding': 'gzip' }, body: file.gzip };
    return { status: 200, headers, body: file.body };
  }
}
