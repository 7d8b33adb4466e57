import { EXIT, SignalsError } from '../config/index.ts';

export type BarsFileErrorReason =
  | 'not_found'
  | 'unreadable'
  | 'empty'
  | 'missing_column'
  | 'duplicate_column'
  | 'unsupported_format';

/**
 * A bars file that cannot be read at all (as opposed to single bad rows, which are
 * reported as `RowError`s while the good rows still load). Not retryable: the file
 * has to be fixed. `exitCode` lets the CLI exit with EXIT.input (3) and one line.
 */
export class BarsFileError extends SignalsError {
  override readonly name = 'BarsFileError';
  override readonly retryable = false;
  override readonly exitCode = EXIT.input;
  /** The missing or duplicated column, for `missing_column` / `duplicate_column`. */
  readonly column: string | undefined;
  constructor(
    readonly file: string,
    readonly reason: BarsFileErrorReason,
    message: string,
    options?: { cause?: unknown; column?: string },
  ) {
    super(`${file}: ${message}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.column = options?.column;
  }
}
