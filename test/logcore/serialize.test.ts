import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CIRCULAR,
  MAX_DEPTH,
  MAX_ERROR_DEPTH,
  REDACTED,
  TOO_DEEP,
  compileRedaction,
  serializeError,
  toJsonValue,
} from '../../src/logcore/serialize.js';

test('follows JSON.stringify for plain data, toJSON and dropped values', () => {
  const value = { a: 1, b: 'two', c: [true, null, undefined, () => 1], d: undefined, e: Symbol('x'), f: { toJSON: () => 'custom' } };
  assert.deepEqual(toJsonValue(value), JSON.parse(JSON.stringify(value)));
});

test('writes Map as an object and Set as an array, catching a Set that contains itself', () => {
  const set = new Set<unknown>([1]);
  set.add(set);
  assert.deepEqual(toJsonValue({ map: new Map<unknown, unknown>([['k', 1], [2, 'v']]), set }), {
    map: { k: 1, '2': 'v' },
    set: [1, CIRCULAR],
  });
});

test('writes a repeated (not circular) object in full each time', () => {
  const shared = { id: 1 };
  assert.deepEqual(toJsonValue({ first: shared, second: shared }), { first: { id: 1 }, second: { id: 1 } });
});

test('stops at the depth limit instead of overflowing the stack', () => {
  let deep: Record<string, unknown> = {};
  const top = deep;
  for (let level = 0; level < 10_000; level += 1) {
    const next = {};
    deep.next = next;
    deep = next;
  }
  let converted = toJsonValue(top) as Record<string, unknown>;
  let depth = 0;
  while (typeof converted.next === 'object') {
    converted = converted.next as Record<string, unknown>;
    depth += 1;
  }
  assert.equal(converted.next, TOO_DEEP);
  assert.equal(depth, MAX_DEPTH - 1);
});

test('writes an object whose getter throws as a marker instead of throwing', () => {
  const hostile = {
    get boom(): never {
      throw new Error('getter');
    },
  };
  assert.deepEqual(toJsonValue({ hostile, fine: 1 }), { hostile: '[Unserializable]', fine: 1 });
});

test('redacts wildcard paths through arrays and objects', () => {
  const redaction = compileRedaction(['context.users.*.token', 'secret']);
  assert.deepEqual(toJsonValue({ users: [{ token: 't', id: 1 }], deep: [{ secret: 's' }] }, redaction), {
    users: [{ token: REDACTED, id: 1 }],
    deep: [{ secret: REDACTED }],
  });
});

test('rejects redact entries that are not key names or context paths, naming the entry', () => {
  assert.throws(() => compileRedaction(['ok', 3]), /options\.redact\[1\] must be a non-empty string/);
  assert.throws(() => compileRedaction(['context.']), /options\.redact\[0\] must be a key name or a path starting with "context\."/);
  assert.throws(() => compileRedaction(['message.text']), /options\.redact\[0\]/);
});

test('a cause chain that loops is cut where it repeats', () => {
  const first = new Error('first');
  const second = new Error('second', { cause: first });
  (first as { cause?: unknown }).cause = second;
  const serialized = serializeError(first);
  assert.equal(serialized.cause?.message, 'second');
  assert.equal(serialized.cause?.cause, undefined);
});

test('a very long cause chain is cut at MAX_ERROR_DEPTH links', () => {
  let error = new Error('0');
  for (let index = 1; index < 50; index += 1) error = new Error(String(index), { cause: error });
  let link = serializeError(error);
  let links = 1;
  while (link.cause !== undefined) {
    link = link.cause;
    links += 1;
  }
  assert.equal(links, MAX_ERROR_DEPTH);
});

test('thrown values that are not errors keep the exception shape', () => {
  assert.deepEqual(serializeError('plain'), { type: 'string', message: 'plain', stack: null });
  assert.deepEqual(serializeError(42), { type: 'number', message: '42', stack: null });
  assert.deepEqual(serializeError(null), { type: 'null', message: 'null', stack: null });
  assert.deepEqual(serializeError({ code: 7 }), { type: 'Object', message: '{"code":7}', stack: null });
});

test('keeps numeric codes and drops codes that are neither strings nor numbers', () => {
  assert.equal(serializeError(Object.assign(new Error('x'), { code: 42 })).code, 42);
  assert.equal('code' in serializeError(Object.assign(new Error('x'), { code: { nested: true } })), false);
});
