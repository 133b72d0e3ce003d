import { ObservError } from '../errors.js';
export async function installCommand(_args: string[]): Promise<void> {
  throw new ObservError('OBS_ERR_USAGE', 'observ install is not available in this build');
}
