import { EXIT, SignalsError, type ExitCode } from '../config/index.ts';

export { EXIT, type ExitCode };

/** An error meant for the person at the terminal: message plus exit code, no stack. Trying again as is does not help. */
export class CliError extends SignalsError {
  override readonly name: string = 'CliError';
  override readonly retryable = false;
  constructor(message: string, exitCode: ExitCode, options?: { cause?: unknown }) {
    super(message, { ...options, exitCode });
  }
}

export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * The exit code of an error the CLI reports in one line, or undefined for a bug
 * (main prints its stack). A CliError always has its say; an error from another
 * layer only when it names a code other than EXIT.internal, its default.
 */
export function exitCodeOf(err: unknown): ExitCode | undefined {
  if (err instanceof CliError) return err.exitCode;
  return err instanceof SignalsError && err.exitCode !== EXIT.internal ? err.exitCode : undefined;
}
