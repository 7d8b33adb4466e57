import { SignalsError } from '../../config/index.ts';

/** A backup or restore that cannot go on: the message says why, the exit code what kind. */
export class BackupError extends SignalsError {
  override readonly name = 'BackupError';
  override readonly retryable = false;
}
