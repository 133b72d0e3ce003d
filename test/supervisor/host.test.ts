// CollectorHost on its own (in this thread): which actors it starts, READY and HEARTBEAT, STOPPED,
// and the test hook that swaps in fixture actors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CollectorHost, FACTORIES_ENV, plannedActors, actorInScope } from '../../src/supervisor/host.js';
import { hasAgentFlags, AGENT_NODE_FLAGS, missingFlags } from '../../src/supervisor/launch-flags.js';
import type { CollectorMessage } from '../../src/supervisor/messages.js';
import type { AgentConfig } from '../../src/supervisor/config.js';
import { fixture } from './helpers.js';

const config = { healthChecks: [], logFiles: [], collectionInterval: 60, diskPath: '/', maxLineBytes: 65536 } as unknown as AgentConfig;

test('plans only the actors a config needs: the sampler always, the prober for checks, the tailer for files or journal units', () => {
  assert.deepEqual(plannedActors({ healthChecks: [], logFiles: [] }), ['sampler']);
  assert.deepEqual(plannedActors({ healthChecks: [{}] as AgentConfig['healthChecks'], logFiles: ['/x.log'] }), ['sampler', 'prober', 'tailer']);
  assert.deepEqual(plannedActors({ healthChecks: [], logFiles: ['/x.log'] }), ['sampler', 'tailer']);
  assert.deepEqual(plannedActors({ healthChecks: [], logFiles: [], journalUnits: ['shop.service'] }), ['sampler', 'tailer'], 'the journal is followed by the tailer');
});

test('announces READY per actor, sends heartbeats while running and STOPPED when stopped', async (t) => {
  process.env[FACTORIES_ENV] = fixture('counter');
  t.after(() => { delete process.env[FACTORIES_ENV]; });
  const got: CollectorMessage[] = [];
  const host = new CollectorHost((m) => got.push(m), { heartbeatIntervalMs: 20 });
  await host.start({ config, checkpoints: [] });
  assert.deepEqual(got.filter((m) => m.type === 'READY'), [{ type: 'READY', actor: 'sampler' }]);
  const until = Date.now() + 5000;
  while (!got.some((m) => m.type === 'HEARTBEAT') && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.ok(got.some((m) => m.type === 'HEARTBEAT' && m.actor === 'sampler'));
  await host.stop();
  await host.stop(); // idempotent
  assert.equal(got.filter((m) => m.type === 'STOPPED').length, 1);
  const afterStop = got.length;
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(got.length, afterStop, 'nothing is sent after STOPPED');
});

test('rejects start when an actor fails to start, after reporting ERROR for it', async (t) => {
  process.env[FACTORIES_ENV] = fixture('crash-at-start');
  t.after(() => { delete process.env[FACTORIES_ENV]; });
  const got: CollectorMessage[] = [];
  const host = new CollectorHost((m) => got.push(m));
  await assert.rejects(host.start({ config, checkpoints: [] }), /cannot start/);
  assert.deepEqual(got.map((m) => m.type), ['ERROR']);
  assert.equal(actorInScope(), undefined, 'the actor scope does not leak into the caller');
});

test('recognises the agent flags from the command line or NODE_OPTIONS', () => {
  assert.equal(hasAgentFlags([], ''), false);
  assert.equal(hasAgentFlags([...AGENT_NODE_FLAGS], ''), true);
  assert.equal(hasAgentFlags([], AGENT_NODE_FLAGS.join(' ')), true);
  assert.equal(hasAgentFlags([AGENT_NODE_FLAGS[0]!], ''), false);
});

test('a V8 flag given on the command line wins over the launcher\'s', () => {
  assert.deepEqual(missingFlags(['--max-opt=2'], ['--max-opt=3'], ''), []);
  assert.deepEqual(missingFlags(['--max-opt=2', ...AGENT_NODE_FLAGS], [], AGENT_NODE_FLAGS.join(' ')), ['--max-opt=2']);
});
