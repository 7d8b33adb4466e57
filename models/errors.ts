import { EXIT, SignalsError, type ExitCode } from '../config/index.ts';

/**
 * Typed errors of the model layer. Each names the CLI exit code it maps to
 * (cli/main.ts prints the message without a stack for them) and none is retryable:
 * the same input fails the same way.
 */
export abstract class ModelError extends SignalsError {
  abstract override readonly exitCode: ExitCode;
  override readonly retryable: boolean = false;
}

/** Bad input that is not one of the more specific cases (unreadable file, unsorted bars, bad JSON). */
export class ModelInputError extends ModelError {
  override readonly name = 'ModelInputError';
  override readonly exitCode = EXIT.input;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Lookback, horizon or feature layout differ between data, preprocessor and model. */
export class ShapeMismatchError extends ModelError {
  override readonly name = 'ShapeMismatchError';
  override readonly exitCode = EXIT.shapeMismatch;
  constructor(
    readonly what: string,
    readonly expected: unknown,
    readonly actual: unknown,
    readonly source = '',
  ) {
    super(`${what} mismatch${source ? ` in ${source}` : ''}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
  }
}

/** Artifacts that should belong to one training run name different run ids. */
export class RunIdMismatchError extends ModelError {
  override readonly name = 'RunIdMismatchError';
  override readonly exitCode = EXIT.runIdMismatch;
  constructor(
    readonly expected: string,
    readonly actual: string,
    readonly where: string,
  ) {
    super(`run_id mismatch: ${where} has run_id ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`);
  }
}

/** Too few bars or windows for the requested lookback, horizon and split. */
export class NotEnoughDataError extends ModelError {
  override readonly name = 'NotEnoughDataError';
  override readonly exitCode = EXIT.notEnoughData;
  constructor(
    message: string,
    readonly needed: number,
    readonly got: number,
  ) {
    super(`${message} (need ${needed}, got ${got})`);
  }
}

/** A NaN or infinite value in the input bars, or in values derived from them. */
export class NonFiniteError extends ModelError {
  override readonly name = 'NonFiniteError';
  override readonly exitCode = EXIT.nonFinite;
  constructor(
    readonly field: string,
    readonly index: number,
    readonly ts: number | undefined,
    readonly value: number,
    message?: string,
  ) {
    const at = ts === undefined || !Number.isFinite(ts) ? `row ${index}` : `row ${index} (ts ${new Date(ts).toISOString()})`;
    super(message ?? `non-finite value ${String(value)} in ${field} at ${at}`);
  }
}

/** Stored artifact bytes do not match their sha256: the model is refused. */
export class ChecksumMismatchError extends ModelError {
  override readonly name = 'ChecksumMismatchError';
  override readonly exitCode = EXIT.checksum;
  constructor(
    readonly what: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`checksum mismatch for ${what}: expected sha256 ${expected}, got ${actual}; refusing to load a corrupted model`);
  }
}

/** The requested (or forced) TensorFlow.js backend cannot be loaded here. */
export class BackendUnavailableError extends ModelError {
  override readonly name = 'BackendUnavailableError';
  override readonly exitCode = EXIT.unavailable;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A model directory or registry version that does not exist (or has no artifact). */
export class ModelNotFoundError extends ModelError {
  override readonly name = 'ModelNotFoundError';
  override readonly exitCode = EXIT.notFound;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Training produced a NaN or infinite loss (too high a learning rate, degenerate data). */
export class TrainingDivergedError extends ModelError {
  override readonly name = 'TrainingDivergedError';
  override readonly exitCode = EXIT.nonFinite;
  constructor(
    readonly epoch: number,
    readonly loss: number,
  ) {
    super(`training diverged: loss became ${String(loss)} in epoch ${epoch}; try a lower --learning-rate`);
  }
}
