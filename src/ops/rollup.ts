import { ObservError } from '../errors.js';
export async function rollupCommand(_args: string[]): Promise<void> {
  throw new ObservError('OBS_ERR_USAGE', 'observ db rollup is not available in this build');
}
