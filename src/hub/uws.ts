// Loads uWebSockets.js. It is not published on npm; the build we depend on
// (@trufflesuite/uws-js-unofficial 20.30) ships native binaries for Node 16, 18 and 20 (ABI 93, 108,
// 115) on linux/darwin (x64, arm64, arm) and win32-x64. On other Node versions the same package
// carries a pure Node.js implementation of the uWS API: we use it only with a loud warning, because
// it is much slower, and OBSERV_UWS_FALLBACK=0 turns the warning into a refusal.

import { createRequire } from 'node:module';
import { ObservError } from '../errors.js';

const require = createRequire(import.meta.url);
export type Uws = typeof import('uWebSockets.js');

export interface LoadedUws {
  uws: Uws;
  implementation: 'native' | 'node-fallback';
  detail: string;
}

let loaded: LoadedUws | undefined;

export function loadUws(warn: (message: string) => void = (m) => process.stderr.write(m + '\n')): LoadedUws {
  if (loaded) return loaded;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    loaded = { uws: require(`uWebSockets.js/binaries/${binary}`) as Uws, implementation: 'native', detail: binary };
    return loaded;
  } catch (err) {
    const why = `no native uWebSockets.js build for Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}: ${(err as Error).message.split('\n')[0]}`;
    const fix = 'Fix: run the hub on Node 20 (native builds exist for Node 16, 18 and 20 on linux/darwin x64/arm64), ' +
      'or on glibc ≥ 2.38 replace the dependency with @btc-vision/uwebsockets.js (Node 20–25).';
    if (process.env.OBSERV_UWS_FALLBACK === '0') throw new ObservError('OBS_ERR_UWS_UNAVAILABLE', `${why}. ${fix}`, { cause: err });
    try {
      const fallback = require('uWebSockets.js/dist/index.js') as Uws;
      warn(`warning: ${why}; using the package's slower Node.js implementation. ${fix}`);
      loaded = { uws: fallback, implementation: 'node-fallback', detail: why };
      return loaded;
    } catch (err2) {
      throw new ObservError('OBS_ERR_UWS_UNAVAILABLE', `${why}, and the Node.js fallback failed to load (${(err2 as Error).message}). ${fix}`, { cause: err2 });
    }
  }
}
