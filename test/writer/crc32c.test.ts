import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32c } from '../../src/workers/writer/crc32c.js';

test('crc32c gives the standard check value for "123456789"', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(Buffer.alloc(0)), 0);
  // RFC 3720 (iSCSI) test vectors.
  assert.equal(crc32c(Buffer.alloc(32, 0)), 0x8a9136aa);
  assert.equal(crc32c(Buffer.alloc(32, 0xff)), 0x62a8ab43);
});

test('crc32c of a buffer equals the crc continued over its pieces, at any split', () => {
  const data = randomBytes(1031);
  const whole = crc32c(data);
  for (const cut of [0, 1, 3, 4, 5, 512, 1030, 1031]) {
    assert.equal(crc32c(data.subarray(cut), crc32c(data.subarray(0, cut))), whole, `split at ${cut}`);
  }
});

test('crc32c changes when any single bit changes', () => {
  const data = randomBytes(64);
  const base = crc32c(data);
  for (let bit = 0; bit < data.length * 8; bit += 7) {
    const copy = Buffer.from(data);
    copy[bit >> 3]! ^= 1 << (bit & 7);
    assert.notEqual(crc32c(copy), base);
  }
});
