// The agent's process entry: `obs-agent APP …` and `observ agent APP …` run this.
//
// scripts/build-agent.ts bundles this module and everything it loads, pg included (but not yaml,
// loaded from node_modules for the config parse only) into one CommonJS file, dist/agent/obs-agent.cjs, which
// bin/obs-agent.cjs requires. One CommonJS file instead of ~30 ES modules: no ES-module loader in the
// process (its loader, its module records and, on Node 22/24, the undici that an ES-module
// `import http from 'node:http'` pulls in through the lazy WebSocket exports, nodejs/node#59686).
// Figures in docs/footprint.md.

import { parseArgs } from 'node:util';
import { ObservError } from '../errors.js';
import { exitWithParent, fail, onShutdown } from './process.js';
import { loadAgentConfig } from './config.js';
import { createAgentLog } from './log.js';
import { Agent } from './agent.js';

export { AGENT_ENV, AGENT_NODE_FLAGS, agentV8Flags, hasAgentFlags, missingFlags } from './launch-flags.js';
// The bundled pg, for bench/agent-footprint's per-module breakdown (what the writer loads, as it loads it).
export { loadPg, loadCopyFrom } from '../db/pg.js';

const USAGE = 'usage: obs-agent APP [--config FILE] [--state-dir DIR] [--vps-name NAME]';

export async function agentCommand(rest: string[]): Promise<void> {
  let values: Record<string, string | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, allowPositionals: true, strict: true,
      options: { config: { type: 'string' }, 'state-dir': { type: 'string' }, 'vps-name': { type: 'string' } } }));
  } catch (err) {
    throw new ObservError('OBS_ERR_USAGE', `${(err as Error).message}\n${USAGE}`);
  }
  const app = positionals[0];
  if (!app || positionals.length > 1) throw new ObservError('OBS_ERR_USAGE', USAGE);
  const log = createAgentLog('obs-agent');
  const config = loadAgentConfig({
    app, configFile: values.config, stateDir: values['state-dir'], vpsName: values['vps-name'],
    warn: (m) => log('warn', m),
  });
  if (!config.enabled) {
    log('info', `monitoring is disabled for ${app} (monitoring.enabled is not true in ${config.configFile}); nothing to do`);
    return;
  }
  const agent = new Agent({ config, log });
  onShutdown(() => agent.stop(10_000), 10_000, (m) => log('warn', m));
  if (process.env.OBSERV_EXIT_WITH_PARENT === '1') exitWithParent(() => agent.stop(10_000), (m) => log('warn', m));
  await agent.start();
}

/** `obs-agent APP …`: runs the agent; a bad argument or config ends the process with its code. */
export async function main(argv: string[]): Promise<void> {
  try {
    await agentCommand(argv);
  } catch (err) {
    fail(err);
  }
}
