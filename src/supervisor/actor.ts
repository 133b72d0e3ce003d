import type { ActorName, CollectorMessage, ControlMessage, FileCheckpoint } from './messages.js';
import type { AgentConfig } from './config.js';

/**
 * What every collector actor gets from whoever hosts it (the main thread in `compact`
 * placement, the collectors worker in `isolated`). Actors never know which.
 */
export interface ActorContext {
  /** Send a message towards the supervisor / writer. Never blocks; flow control is by COMMITTED/PAUSE. */
  send(message: CollectorMessage): void;
  /** Aborted when the actor must stop. */
  signal: AbortSignal;
}

export interface Actor {
  readonly name: ActorName;
  /** Start producing. Resolves once the actor is ready (READY is sent by the host). */
  start(): Promise<void>;
  /** Control messages from the supervisor (COMMITTED, PAUSE_TAILING, RESUME_TAILING). */
  handle(message: ControlMessage): void;
  /** Stop producing and hand over what is already read. Idempotent. */
  stop(): Promise<void>;
}

/** Everything a collector needs to start, structured-clone friendly (it crosses into a worker). */
export interface CollectorsStart {
  config: AgentConfig;
  /** Committed positions of each log file, from agent_checkpoints (or the spool). */
  checkpoints: FileCheckpoint[];
}

export type ActorFactory = (start: CollectorsStart, ctx: ActorContext) => Actor;
