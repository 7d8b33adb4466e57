/**
 * Exit codes of the `signals` CLI (documented in the README). A user error prints
 * one clear line and exits with its code; only an unexpected bug prints a stack.
 */
export const EXIT = {
  ok: 0,
  internal: 1,
  usage: 2,
  input: 3,
  shapeMismatch: 4,
  runIdMismatch: 5,
  notEnoughData: 6,
  nonFinite: 7,
  unavailable: 8,
  checksum: 9,
  notFound: 10,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

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
