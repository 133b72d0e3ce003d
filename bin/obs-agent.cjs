#!/usr/bin/env node
// obs-agent = `observ agent`: the bundled agent (dist/agent/obs-agent.cjs, scripts/build-agent.ts),
// CommonJS from the first line, so the process never starts Node's ES-module loader (docs/footprint.md).
//
// With the runtime flags measured in bench/agent-footprint (src/supervisor/launch-flags.ts): when they
// are not given already (systemd unit, NODE_OPTIONS) and Node can replace its own process
// (process.execve: Node ≥ 22.15 / 23.11), this re-executes itself once with them (same PID). On Node 20 it runs
// as is: a re-exec there means a parent process waiting beside the agent, which costs more private
// memory than the flags save, so the unit passes the flags instead.
'use strict';
const args = process.argv.slice(2);
// --help and --version are the CLI's (one usage text, one version line): it answers them, and the
// agent's lean path below stays free of its modules.
if (args.includes('--help') || args.includes('-h') || (args.length === 1 && (args[0] === '--version' || args[0] === '-v'))) {
  import('../dist/src/cli.js').then((cli) => cli.main(['agent', ...(args[0] === '-v' ? ['--version'] : args)]));
  return;
}
const agent = require('../dist/agent/obs-agent.cjs');

// V8 flags that NODE_OPTIONS refuses (agentV8Flags, per Node line; none at present) only work on the command
// line, so they are added the same way, also under systemd.
const missing = [...agent.missingFlags(agent.AGENT_NODE_FLAGS), ...agent.missingFlags(agent.agentV8Flags())];
if (typeof process.execve === 'function' && !process.env.OBSERV_AGENT_REEXEC && missing.length) {
  process.execve(process.execPath,
    [process.execPath, ...missing, ...process.execArgv, __filename, ...process.argv.slice(2)],
    { ...agent.AGENT_ENV, ...process.env, OBSERV_AGENT_REEXEC: '1' });
}
agent.main(process.argv.slice(2));
