// Which transport the hub picks, and what it says when uWebSockets.js cannot load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadUws, cause } from '../../src/hub/transport/uws.js';
import { createTransport, parseTransportChoice, uwsAvailable } from '../../src/hub/transport/index.js';
import { ObservError } from '../../src/errors.js';
import { hubFor } from './fixtures.js';

test('a uWS load failure is told by its real cause: a missing ABI build, or the glibc it needs', () => {
  const binary = 'uws_linux_x64_137.node';
  assert.equal(cause(Object.assign(new Error(`Cannot find module 'uWebSockets.js/binaries/${binary}'`), { code: 'MODULE_NOT_FOUND' }), binary),
    `no ${binary} in the package (no build for this Node ABI/platform)`);
  assert.equal(cause(Object.assign(new Error("Cannot find module '@btc-vision/uwebsockets.js'"), { code: 'MODULE_NOT_FOUND' }), binary), 'not installed');
  assert.match(cause(Object.assign(new Error("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.38' not found (required by x.node)"), { code: 'ERR_DLOPEN_FAILED' }), binary),
    /^needs glibc ≥ 2\.38, this system has .+ \(\/lib\/x86_64-linux-gnu\/libc\.so\.6: version `GLIBC_2\.38' not found/);
});

test('auto takes uWS where a build loads and node:http + ws elsewhere, and says why; uws where none loads lists every build tried', async (t) => {
  const { hub } = await hubFor(t, { transport: 'auto' });
  if (uwsAvailable()) {
    assert.match(hub.implementation, /^uWebSockets\.js 20\.(30|57)/);
    assert.equal(hub.transportReason, 'a uWebSockets.js build loads here');
  } else {
    assert.match(hub.implementation, /^node:http \+ ws \d/);
    assert.match(hub.transportReason, /no uWebSockets\.js build loads for Node v\d+.*@trufflesuite\/uws-js-unofficial.*@btc-vision\/uwebsockets\.js/);
    assert.throws(() => loadUws(), (err: unknown) => err instanceof ObservError && err.code === 'OBS_ERR_UWS_UNAVAILABLE' &&
      /20\.30 \(@trufflesuite\/uws-js-unofficial\): no uws_\w+\.node in the package/.test(err.message) &&
      /20\.57 \(@btc-vision\/uwebsockets\.js\): (needs glibc ≥ \d+\.\d+, this system has|not installed|no uws_)/.test(err.message));
    assert.throws(() => createTransport('uws', { handler: async () => ({ status: 200, headers: {}, body: '' }), livePath: '/live',
      live: { upgrade: () => ({ accept: false, response: { status: 400, headers: {}, body: '' } }), open() {}, message() {}, close() {} },
      limits: { maxBodyBytes: 1, maxPayloadBytes: 1, maxBufferedBytes: 1, idleTimeoutSeconds: 10 }, onError() {} }), /OBS_ERR_UWS_UNAVAILABLE|no uWebSockets\.js build loads/);
  }
  const status = await (await fetch(`${hub.url}/api/status`)).json() as { transport: string };
  assert.equal(status.transport, hub.implementation);
});

test('the transport choice is auto, uws or node, and anything else is a usage error naming its source', () => {
  assert.equal(parseTransportChoice(undefined, 'x'), 'auto');
  assert.equal(parseTransportChoice('node', 'x'), 'node');
  assert.throws(() => parseTransportChoice('fast', '--transport'), /--transport must be auto, uws or node \(got "fast"\)/);
});
