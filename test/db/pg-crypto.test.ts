// The agent's stand-in for pg's crypto helpers (src/db/pg-crypto.ts): RFC 7677's SCRAM-SHA-256
// example, and the same bytes as pg's own WebCrypto helpers for the same inputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import * as ours from '../../src/db/pg-crypto.js';

const require = createRequire(import.meta.url);
const pgUtils = require('pg/lib/crypto/utils.js') as typeof ours;

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ b[i]!));
}

test('RFC 7677: the SCRAM-SHA-256 example exchange gives the RFC\'s proof and server signature', async () => {
  const clientFirstBare = 'n=user,r=rOprNGfwEbeRWgbNEkqO';
  const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
  const clientFinalWithoutProof = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
  const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
  const salted = await ours.deriveKey('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
  const clientKey = await ours.hmacSha256(salted, 'Client Key');
  const storedKey = await ours.sha256(clientKey);
  const clientSignature = await ours.hmacSha256(storedKey, authMessage);
  assert.equal(xor(Buffer.from(clientKey), Buffer.from(clientSignature)).toString('base64'), 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=');
  const serverSignature = await ours.hmacSha256(await ours.hmacSha256(salted, 'Server Key'), authMessage);
  assert.equal(Buffer.from(serverSignature).toString('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
});

test('every helper returns the bytes pg\'s own returns, from strings, buffers and array buffers', async () => {
  const salt = Buffer.from('c2FsdHNhbHQ=', 'base64');
  const same = async (a: Promise<unknown>, b: Promise<unknown>) =>
    assert.deepEqual(Buffer.from(await a as ArrayBuffer), Buffer.from(await b as ArrayBuffer));
  await same(ours.deriveKey('pässwörd', salt, 4096), pgUtils.deriveKey('pässwörd', salt, 4096));
  const key = await pgUtils.deriveKey('k', salt, 2);
  await same(ours.hmacSha256(key, 'Client Key ✓'), pgUtils.hmacSha256(key, 'Client Key ✓'));
  await same(ours.hmacSha256(Buffer.from(key), 'x'), pgUtils.hmacSha256(key, 'x'));
  await same(ours.sha256(key), pgUtils.sha256(key));
  await same(ours.sha256(Buffer.from('abc')), pgUtils.sha256(Buffer.from('abc')));
  for (const name of ['SHA-1', 'SHA-256', 'SHA-384', 'SHA-512']) await same(ours.hashByName(name, Buffer.from('cert')), pgUtils.hashByName(name, Buffer.from('cert')));
  assert.equal(await ours.postgresMd5PasswordHash('observ', 'secret', Buffer.from([1, 2, 3, 4])),
    await pgUtils.postgresMd5PasswordHash('observ', 'secret', Buffer.from([1, 2, 3, 4])));
  assert.equal(ours.randomBytes(18).length, 18);
  assert.notDeepEqual(ours.randomBytes(18), ours.randomBytes(18));
});
