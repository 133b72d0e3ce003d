// Picks the hub's transport: uWebSockets.js wherever a build loads for this Node ABI and libc, else
// node:http + ws. `--transport uws|node` (or OBSERV_HUB_TRANSPORT) forces one; forcing uws where
// none loads is an error (OBS_ERR_UWS_UNAVAILABLE) listing every build tried and why it failed.

import { ObservError } from '../../errors.js';
import { loadUws, uwsTransport } from './uws.js';
import { nodeTransport } from './node.js';
import type { Transport, TransportKind, TransportOptions } from './types.js';

export type TransportChoice = TransportKind | 'auto';

export interface ChosenTransport {
  transport: Transport;
  /** Why this one, for the hub's start line. */
  reason: string;
}

export function parseTransportChoice(value: string | undefined, source: string): TransportChoice {
  if (value === undefined || value === '' || value === 'auto') return 'auto';
  if (value === 'uws' || value === 'node') return value;
  throw new ObservError('OBS_ERR_USAGE', `${source} must be auto, uws or node (got ${JSON.stringify(value)})`);
}

/** Whether a uWS build loads here (tests use this to run the same cases over both transports). */
export function uwsAvailable(): boolean {
  try { loadUws(); return true; } catch { return false; }
}

export function createTransport<D>(choice: TransportChoice, options: TransportOptions<D>): ChosenTransport {
  if (choice === 'node') return { transport: nodeTransport(options), reason: 'chosen' };
  if (choice === 'uws') return { transport: uwsTransport(options), reason: 'chosen' };
  try {
    return { transport: uwsTransport(options), reason: 'a uWebSockets.js build loads here' };
  } catch (err) {
    if (!(err instanceof ObservError) || err.code !== 'OBS_ERR_UWS_UNAVAILABLE') throw err;
    return { transport: nodeTransport(options), reason: err.message.replace(/ The hub serves .*$/, '') };
  }
}

export type { Transport, TransportKind, TransportOptions } from './types.js';
