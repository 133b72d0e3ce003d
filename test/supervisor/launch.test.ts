// bin/obs-agent.cjs runs the agent with the runtime flags measured in bench/agent-footprint
// (src/supervisor/launch-flags.ts): where Node can replace its own process (process.execve, Node ≥ 22.15)
// it re-executes itself once with the flags and environment that are missing; on older Node it runs as
// is (the systemd unit passes them). Read from the running agent's /proc/PID/cmdline and environ.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { testDatabase } from '../helpers/pg.js';
import { AGENT_ENV, AGENT_NODE_FLAGS, agentV8Flags } from '../../src/supervisor/launch-flags.js';
import { agentBin, agentFiles, spawnAgentBin, message, dump } from './helpers.js';

const canReexec = typeof (process as { execve?: unknown }).execve === 'function';
const procList = (pid: number, file: 'cmdline' | 'environ') => readFileSync(`/proc/${pid}/${file}`, 'utf8').split('\0').filter(Boolean);

test(`started without flags, the agent runs ${canReexec ? 'with every runtime flag and variable, in the same process' : 'as is (this Node cannot re-execute itself)'}`, async (t) => {
  const db = await testDatabase(t);
  const files = agentFiles(t, { postgres_url: db.url });
  // None of the flags from the test's own environment (a variable already set would win over AGENT_ENV).
  const agent = spawnAgentBin(t, files, [], { NODE_OPTIONS: '', OBSERV_AGENT_REEXEC: '' });
  await agent.waitFor(message('collectors ready'), 'READY', 60_000);
  const argv = procList(agent.child.pid!, 'cmdline');
  const env = procList(agent.child.pid!, 'environ');
  const wanted = [...AGENT_NODE_FLAGS, ...agentV8Flags()];
  if (canReexec) {
    assert.deepEqual(wanted.filter((f) => !argv.includes(f)), [], `command line: ${argv.join(' ')}`);
    for (const [k, v] of Object.entries(AGENT_ENV)) if (process.env[k] === undefined) assert.ok(env.includes(`${k}=${v}`), `${k}=${v} in the environment`);
  } else {
    assert.deepEqual(wanted.filter((f) => argv.includes(f)), [], `command line: ${argv.join(' ')}`);
  }
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0, dump(agent.lines));
});

test('started with the flags on its command line (the bench, `observ start`), the agent is not re-executed', async (t) => {
  const db = await testDatabase(t);
  const files = agentFiles(t, { postgres_url: db.url });
  const given = [...AGENT_NODE_FLAGS, ...agentV8Flags()];
  const agent = spawnAgentBin(t, files, given, { NODE_OPTIONS: '', OBSERV_AGENT_REEXEC: '' });
  await agent.waitFor(message('collectors ready'), 'READY', 60_000);
  const argv = procList(agent.child.pid!, 'cmdline');
  // Each flag once, and no mark of a re-exec in the environment.
  assert.deepEqual(argv.slice(1, argv.indexOf(agentBin)), given, `command line: ${argv.join(' ')}`);
  assert.equal(procList(agent.child.pid!, 'environ').some((e) => e.startsWith('OBSERV_AGENT_REEXEC=1')), false);
  agent.child.kill('SIGTERM');
  assert.equal(await agent.exited, 0, dump(agent.lines));
});
