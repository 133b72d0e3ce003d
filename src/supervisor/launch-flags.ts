// Runtime flags for the agent process, measured in bench/agent-footprint (figures in docs/footprint.md).
// The systemd unit passes them on the node command line and in Environment=; bin/obs-agent.cjs adds them
// itself where Node can replace its own process (process.execve, Node ≥ 22.15 / 23.11).

/** Node/V8 flags, in the order they go before the script. */
export const AGENT_NODE_FLAGS: readonly string[] = [
  // The young generation is 3 semi-spaces; V8's default (16 MB semi-space on 64-bit) lets the heap
  // grow by tens of MB during a catch-up before a scavenge. 1 MB keeps it small at little CPU cost.
  '--max-semi-space-size=1',
  // A ceiling, not a target: a leak or runaway backlog ends the process (systemd restarts it, the
  // checkpoint makes that lossless) before the host starts swapping.
  '--max-old-space-size=64',
  // V8's platform threads (concurrent GC/compile helpers) default to one per core.
  '--v8-pool-size=1',
  // Bytecode interpreter only: no Sparkplug, Maglev or TurboFan, so their machine code in the node
  // binary is never paged in and no JIT code is kept. Typical RSS max 62.5 → 55.2 MB (22), 63.0 →
  // 57.6 MB (24), busy 69.3 → 62.0 / 71.0 → 64.7 MB, with pg bundled in (bench/agent-footprint --quick,
  // one run). Costs CPU when busy: 1.8 → 4.2 % (22), 2.1 → 4.0 % (24) at 1,000 lines/s, under the
  // spec's 5 %; typical unchanged within noise (0.8 / 0.7 %). It disables WebAssembly, which only
  // undici (node's fetch) would need: the agent never loads it (test/supervisor/lean.test.ts), and
  // the prober uses node:http(s). Node 20/22 print one line, "disabling flag --expose_wasm", at start.
  '--jitless',
  // Gives the agent's heap guard (heap-guard.ts) its `gc`: a full collection once 1 MB of garbage has
  // been promoted, where V8 waits for 8 MB or more. Allowed in NODE_OPTIONS on every line.
  '--expose-gc',
];

/** Environment for the agent process (read by libuv and glibc at start). */
export const AGENT_ENV: Readonly<Record<string, string>> = {
  // libuv's pool serves DNS lookups and async fs; 4 threads by default. 2 keeps a slow DNS lookup
  // (health check) from stalling a file read.
  UV_THREADPOOL_SIZE: '2',
  // glibc gives every thread its own malloc arena (8 × cores); 2 stops per-thread arenas holding freed memory.
  MALLOC_ARENA_MAX: '2',
};

/**
 * V8 flags for the Node lines where they pay. NODE_OPTIONS refuses them (V8's own flags) and V8 ignores
 * them once started (v8.setFlagsFromString does not stop TurboFan on Node 24), so bin/obs-agent.cjs
 * re-executes itself with them on the command line (process.execve: same PID, no parent left behind).
 */
export function agentV8Flags(nodeMajor = Number(process.versions.node.split('.')[0])): string[] {
  // None since --jitless (above): before it, Node ≥ 24 ran with --max-opt=2 (V8 capped at Maglev,
  // typical 67.7 → 62.8 MB); without a JIT there is no tier to cap.
  void nodeMajor;
  return [];
}

/** The flags of `wanted` missing from this process's command line (and NODE_OPTIONS). */
export function missingFlags(wanted: readonly string[], execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return wanted.filter((flag) => !given.some((g) => g.split('=')[0] === flag.split('=')[0]));
}

/** True when this process already runs with the flags (from the unit, NODE_OPTIONS or a re-exec). */
export function hasAgentFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  return missingFlags(AGENT_NODE_FLAGS, execArgv, nodeOptions).length === 0;
}
