import { ObservError } from '../errors.js';
export async function retentionCommand(_args: string[]): Promise<void> {
  throw new ObservError('OBS_ERR_USAGE', 'observ db retention is not available in this build');
}
