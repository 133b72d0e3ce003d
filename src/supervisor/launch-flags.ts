// Runtime flags for the agent process, measured in bench/agent-footprint (figures in docs/footprint.md).
// The systemd unit passes them on the node command line and in Environment=; bin/obs-agent.cjs adds them
// itself where Node can replace its own process (process.execve, Node ≥ 22.15 / 23.11).
// No --jitless: it disables WebAssembly, which undici (node's fetch) needs, and costs CPU.

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
];

/** Environment for the agent process (read by libuv and glibc at start). */
export const AGENT_ENV: Readonly<Record<string, string>> = {
  // libuv's pool serves DNS lookups and async fs; 4 threads by default. 2 keeps a slow DNS lookup
  // (health check) from stalling a file read.
  UV_THREADPOOL_SIZE: '2',
  // glibc gives every thread its own malloc arena (8 × cores); 2 stops per-thread arenas holding freed memory.
  MALLOC_ARENA_MAX: '2',
};

/** True when this process already runs with the flags (from the unit, NODE_OPTIONS or a re-exec). */
export function hasAgentFlags(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  const given = [...execArgv, ...nodeOptions.split(/\s+/)];
  return AGENT_NODE_FLAGS.every((flag) => given.some((g) => g.split('=')[0] === flag.split('=')[0]));
}
