// pg's crypto helpers (pg/lib/crypto/utils.js: SCRAM-SHA-256 and MD5 authentication) on node:crypto's
// hashes, HMAC and PBKDF2 instead of WebCrypto. The agent's bundle uses this file in place of pg's
// (scripts/build-agent.ts); everything else keeps pg's own.
//
// Why: pg's version reaches node:crypto through `webcrypto.subtle`, which loads Node's WebCrypto
// layer (key objects, algorithm normalisation, its own modules) at the first connect. The same SCRAM
// exchange through createHash/createHmac/pbkdf2 costs 0.3 / 0.5 / 0.6 MB less RSS on Node 20 / 22 / 24
// (an idle `node --jitless` with net, http and os loaded, running each exchange's calls once, two runs
// each, identical to 0.1 MB). Same inputs, same bytes out: test/db/pg-crypto.test.ts checks the two
// against each other and against RFC 7677's example.

import { createHash, createHmac, pbkdf2, randomBytes as nodeRandomBytes } from 'node:crypto';

type Bytes = string | Buffer | ArrayBuffer | ArrayBufferView;

function bytes(data: Bytes): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (Buffer.isBuffer(data)) return data;
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

export function randomBytes(length: number): Buffer {
  return nodeRandomBytes(length);
}

export async function md5(text: string | Buffer): Promise<string> {
  return createHash('md5').update(typeof text === 'string' ? Buffer.from(text, 'utf8') : text).digest('hex');
}

/** AuthenticationMD5Password: 'md5' + md5(md5(password + user) + salt). */
export async function postgresMd5PasswordHash(user: string, password: string, salt: Buffer): Promise<string> {
  const inner = await md5(password + user);
  return 'md5' + await md5(Buffer.concat([Buffer.from(inner), salt]));
}

export async function sha256(data: Bytes): Promise<Buffer> {
  return createHash('sha256').update(bytes(data)).digest();
}

/** A WebCrypto hash name ('SHA-256', 'SHA-384', 'SHA-512', 'SHA-1') as node:crypto spells it. */
export async function hashByName(hashName: string, data: Bytes): Promise<Buffer> {
  return createHash(hashName.replace('-', '').toLowerCase()).update(bytes(data)).digest();
}

export async function hmacSha256(key: Bytes, message: string): Promise<Buffer> {
  return createHmac('sha256', bytes(key)).update(message, 'utf8').digest();
}

/** PBKDF2-HMAC-SHA-256 of the password, 32 bytes (SCRAM's SaltedPassword), on libuv's pool like WebCrypto's. */
export function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256',
    (err, key) => (err ? reject(err) : resolve(key))));
}
