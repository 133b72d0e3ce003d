#!/usr/bin/env node
// obs-agent = `observ agent`, with the runtime flags measured in bench/agent-footprint
// (src/supervisor/launch-flags.ts; docs/footprint.md has the figures).
//
// When the flags are not given already (systemd unit, NODE_OPTIONS) and Node can replace its own
// process (process.execve: Node ≥ 22.15 / 23.11), this re-executes itself once with them. On Node 20
// it runs as is: a re-exec there means a parent process waiting beside the agent, which costs more
// private memory than the flags save, so the unit passes the flags instead.
import { fileURLToPath } from 'node:url';
import { AGENT_ENV, AGENT_NODE_FLAGS, hasAgentFlags } from '../dist/src/supervisor/launch-flags.js';

if (typeof process.execve === 'function' && !process.env.OBSERV_AGENT_REEXEC && !hasAgentFlags()) {
  process.execve(process.execPath,
    [process.execPath, ...AGENT_NODE_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { ...AGENT_ENV, ...process.env, OBSERV_AGENT_REEXEC: '1' });
}
const { main } = await import('../dist/src/cli.js');
main(['agent', ...process.argv.slice(2)]);
