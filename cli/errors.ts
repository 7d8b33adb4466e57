import { EXIT, type ExitCode } from '../config/index.ts';

export { EXIT, type ExitCode };

/** An error meant for the person at the terminal: message plus exit code, no stack. */
export class CliError extends Error {
  override readonly name: string = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class UsageError extends CliError {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** Errors from other layers can carry their own exit code by having `exitCode`. */
export function exitCodeOf(err: unknown): ExitCode | undefined {
  if (err instanceof CliError) return err.exitCode;
  const code = (err as { exitCode?: unknown } | null)?.exitCode;
  return typeof code === 'number' ? (code as ExitCode) : undefined;
}
