// Loads uWebSockets.js. It is not published on npm; the build we depend on
// (@trufflesuite/uws-js-unofficial 20.30, aliased as "uWebSockets.js") ships native binaries for
// Node 16, 18 and 20 (ABI 93, 108, 115) on linux/darwin (x64, arm64, arm) and win32-x64. Where none
// loads, `@btc-vision/uwebsockets.js` (Node 20–25, glibc ≥ 2.38) is used if the user installed it.
// The package's own pure-Node fallback is not used: tried here, it drops plain HTTP requests.

import { createRequire } from 'node:module';
import { ObservError } from '../errors.js';

const require = createRequire(import.meta.url);
export type Uws = typeof import('uWebSockets.js');

export interface LoadedUws {
  uws: Uws;
  implementation: string;
}

let loaded: LoadedUws | undefined;

// (The optional argument is accepted for callers written against the earlier fallback-capable loader.)
export function loadUws(_warn?: (message: string) => void): LoadedUws {
  if (loaded) return loaded;
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  try {
    loaded = { uws: require(`uWebSockets.js/binaries/${binary}`) as Uws, implementation: `uWebSockets.js 20.30 (${binary})` };
    return loaded;
  } catch (err) {
    try {
      loaded = { uws: require('@btc-vision/uwebsockets.js') as Uws, implementation: '@btc-vision/uwebsockets.js' };
      return loaded;
    } catch {
      throw new ObservError('OBS_ERR_UWS_UNAVAILABLE',
        `no uWebSockets.js build loads for Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch} ` +
        `(${(err as Error).message.split('\n')[0]}). Fix: run the hub on Node 20 (native builds exist for Node 16, 18 and 20 on ` +
        `linux/darwin x64/arm64 and win32-x64), or on glibc ≥ 2.38 run \`npm install @btc-vision/uwebsockets.js\` (Node 20–25). ` +
        `The agent and logcore do not need it.`, { cause: err });
    }
  }
}
