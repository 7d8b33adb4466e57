import { EXIT, type ExitCode } from './exit-codes.ts';

/**
 * The base of every error this system throws on purpose. It answers the two
 * questions callers ask of a failure: whether trying the same thing again can help
 * (`retryable`: retry loops and the poison-message check read it), and which CLI
 * exit code it maps to (`exitCode`). `EXIT.internal` is the default and means "not
 * something a user can fix": the CLI prints the stack for it, like for any bug.
 */
export abstract class SignalsError extends Error {
  abstract readonly retryable: boolean;
  readonly exitCode: ExitCode;
  constructor(message: string, options?: { cause?: unknown; exitCode?: ExitCode }) {
    // Handed to Error as given: it sets `cause` only when the caller passed one.
    super(message, options);
    this.exitCode = options?.exitCode ?? EXIT.internal;
  }
}
