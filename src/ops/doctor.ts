import { ObservError } from '../errors.js';
export async function doctorCommand(_args: string[]): Promise<void> {
  throw new ObservError('OBS_ERR_USAGE', 'observ doctor is not available in this build');
}
