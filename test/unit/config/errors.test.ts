import { describe, expect, it } from 'vitest';
import { ConfigError, EXIT, SignalsError } from '../../../config/index.ts';
import { DatabaseAccessError, MigrationChecksumError, ModelVersionConflictError } from '../../../sql/index.ts';
import { HistoryUnavailableError, QualitySettingsError } from '../../../actors/quality/index.ts';
import { FineTuneUnavailableError } from '../../../actors/prediction/index.ts';
import { LifecycleError } from '../../../actors/lifecycle/index.ts';
// Not exported through the lifecycle door: imported from their files.
import { TrainingFailedError } from '../../../actors/lifecycle/trainer.ts';
import { RetrainRequestError } from '../../../actors/lifecycle/retrain.ts';
import { InvalidAlertError, OpsServerError } from '../../../ops/index.ts';
import {
  BackendUnavailableError,
  ChecksumMismatchError,
  ModelError,
  ModelInputError,
  ModelNotFoundError,
  NonFiniteError,
  NotEnoughDataError,
  RunIdMismatchError,
  ShapeMismatchError,
  TrainingDivergedError,
} from '../../../models/index.ts';
import { CliError, exitCodeOf, UsageError } from '../../../cli/index.ts';
import {
  AbortedError,
  InvalidTokenError,
  isPermanentPublishError,
  isPoisonSuspect,
  PoisonSuspectError,
  PublishConnectionLostError,
  PublishRejectedError,
  PublishTimeoutError,
  WorkClaimError,
} from '../../../streams/index.ts';
import { BarsFileError } from '../../../market/index.ts';

const cause = new Error('underlying');

/** [class name, a constructed error, retryable, exit code] */
const cases: [string, SignalsError, boolean, number][] = [
  ['ConfigError', new ConfigError(['NATS_URL: Required']), false, EXIT.usage],
  ['DatabaseAccessError', new DatabaseAccessError('connect ECONNREFUSED', { retryable: true, cause }), true, EXIT.unavailable],
  ['DatabaseAccessError', new DatabaseAccessError('permission denied'), false, EXIT.unavailable],
  ['MigrationChecksumError', new MigrationChecksumError('001_init.sql'), false, EXIT.checksum],
  ['ModelVersionConflictError', new ModelVersionConflictError('v1', 'abc'), false, EXIT.internal],
  ['QualitySettingsError', new QualitySettingsError(['QUALITY_CALENDARS: bad']), false, EXIT.internal],
  ['HistoryUnavailableError', new HistoryUnavailableError('csv:/x', 'unreadable'), true, EXIT.internal],
  ['FineTuneUnavailableError', new FineTuneUnavailableError('too few bars', { retryable: true }), true, EXIT.internal],
  ['FineTuneUnavailableError', new FineTuneUnavailableError('no weights', { retryable: false }), false, EXIT.internal],
  ['LifecycleError', new LifecycleError('not_found', 'no such version'), false, EXIT.internal],
  ['TrainingFailedError', new TrainingFailedError('worker crashed', 'WorkerCrash', 137), true, EXIT.internal],
  ['TrainingFailedError', new TrainingFailedError('too few bars', 'NotEnoughDataError', 1), false, EXIT.internal],
  ['RetrainRequestError', new RetrainRequestError('scope has no bars'), false, EXIT.internal],
  ['OpsServerError', new OpsServerError(9464, { cause }), false, EXIT.internal],
  ['InvalidAlertError', new InvalidAlertError('gap', ['venue: Required']), false, EXIT.internal],
  ['ModelInputError', new ModelInputError('bad json'), false, EXIT.input],
  ['ShapeMismatchError', new ShapeMismatchError('lookback', 60, 30), false, EXIT.shapeMismatch],
  ['RunIdMismatchError', new RunIdMismatchError('a', 'b', 'preprocessor.json'), false, EXIT.runIdMismatch],
  ['NotEnoughDataError', new NotEnoughDataError('too few bars', 100, 10), false, EXIT.notEnoughData],
  ['NonFiniteError', new NonFiniteError('close', 3, undefined, Number.NaN), false, EXIT.nonFinite],
  ['ChecksumMismatchError', new ChecksumMismatchError('model.json', 'aa', 'bb'), false, EXIT.checksum],
  ['BackendUnavailableError', new BackendUnavailableError('no tensorflow'), false, EXIT.unavailable],
  ['ModelNotFoundError', new ModelNotFoundError('no such directory'), false, EXIT.notFound],
  ['TrainingDivergedError', new TrainingDivergedError(2, Number.NaN), false, EXIT.nonFinite],
  ['CliError', new CliError('not in the registry', EXIT.notFound), false, EXIT.notFound],
  ['UsageError', new UsageError('--venue is required'), false, EXIT.usage],
  ['AbortedError', new AbortedError('aborted while retrying'), true, EXIT.internal],
  ['PublishRejectedError', new PublishRejectedError('message size exceeds maximum allowed', 400, 10054), false, EXIT.internal],
  ['PublishRejectedError', new PublishRejectedError('no stream captures this subject (503 no responders)', 503), true, EXIT.internal],
  ['PublishTimeoutError', new PublishTimeoutError('no PubAck within 5000 ms'), true, EXIT.internal],
  ['PublishConnectionLostError', new PublishConnectionLostError('the connection dropped'), true, EXIT.internal],
  ['PoisonSuspectError', new PoisonSuspectError([1, 2], { cause }), true, EXIT.internal],
  ['WorkClaimError', new WorkClaimError('gap.v.s', 'kv down', { cause }), true, EXIT.internal],
  ['InvalidTokenError', new InvalidTokenError('venue', 'a.b'), false, EXIT.internal],
  ['BarsFileError', new BarsFileError('bars.csv', 'empty', 'no rows'), false, EXIT.input],
];

describe('SignalsError: every error the system throws on purpose', () => {
  it.each(cases)('%s is a SignalsError with its name, retryable and exit code', (name, err, retryable, exitCode) => {
    expect(err).toBeInstanceOf(SignalsError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe(name);
    expect(err.retryable).toBe(retryable);
    expect(err.exitCode).toBe(exitCode);
    expect(err.message.length, 'a message for the logs and the terminal').toBeGreaterThan(0);
  });

  it('covers each of the 31 concrete classes', () => {
    expect(new Set(cases.map(([name]) => name)).size).toBe(31);
  });

  it('keeps each model error a ModelError and a UsageError a CliError', () => {
    const modelErrors = new Set(['ModelInputError', 'ShapeMismatchError', 'RunIdMismatchError', 'NotEnoughDataError', 'NonFiniteError', 'ChecksumMismatchError', 'BackendUnavailableError', 'ModelNotFoundError', 'TrainingDivergedError']);
    for (const [name, err] of cases) expect(err instanceof ModelError, name).toBe(modelErrors.has(name));
    expect(new UsageError('x')).toBeInstanceOf(CliError);
  });

  it('sets `cause` only when one is given, and keeps the messages', () => {
    expect('cause' in new ModelInputError('bad json')).toBe(false);
    expect(new ModelInputError('bad json', { cause }).cause).toBe(cause);
    expect(new CliError('x', EXIT.input, { cause }).cause).toBe(cause);
    expect('cause' in new CliError('x', EXIT.input)).toBe(false);
    expect(new HistoryUnavailableError('csv:/x', 'unreadable').message).toBe('csv:/x: unreadable');
    expect(new ConfigError(['A: bad', 'B: bad']).message).toBe('invalid configuration:\n  A: bad\n  B: bad');
    expect(new BarsFileError('bars.csv', 'empty', 'no rows').message).toBe('bars.csv: no rows');
  });

  it('keeps the training child exit code apart from the CLI exit code', () => {
    const err = new TrainingFailedError('worker crashed', 'WorkerCrash', 137);
    expect(err.workerExitCode).toBe(137);
    expect(err.errorName).toBe('WorkerCrash');
    expect(err.exitCode).toBe(EXIT.internal);
  });
});

describe('readers of the typed fields', () => {
  it('the CLI prints one line for an error that names its exit code, and a stack for the rest', () => {
    expect(exitCodeOf(new ConfigError(['X: bad']))).toBe(EXIT.usage);
    expect(exitCodeOf(new DatabaseAccessError('refused'))).toBe(EXIT.unavailable);
    expect(exitCodeOf(new MigrationChecksumError('001_init.sql'))).toBe(EXIT.checksum);
    expect(exitCodeOf(new BarsFileError('bars.csv', 'empty', 'no rows'))).toBe(EXIT.input);
    expect(exitCodeOf(new UsageError('x'))).toBe(EXIT.usage);
    expect(exitCodeOf(new LifecycleError('invalid', 'x')), 'EXIT.internal is the default: a stack').toBeUndefined();
    expect(exitCodeOf(new QualitySettingsError(['x']))).toBeUndefined();
    expect(exitCodeOf(new TrainingFailedError('x', 'WorkerCrash', 3)), 'a child exit code is not a CLI exit code').toBeUndefined();
    expect(exitCodeOf(new TypeError('x is undefined'))).toBeUndefined();
    expect(exitCodeOf('boom')).toBeUndefined();
  });

  it('a poison suspect is a SignalsError that is not retryable; outages are not blamed on the message', () => {
    expect(isPoisonSuspect(new ModelInputError('bad'))).toBe(true);
    expect(isPoisonSuspect(new InvalidTokenError('symbol', 'a b'))).toBe(true);
    expect(isPoisonSuspect(new PublishRejectedError('message size exceeds maximum allowed', 400))).toBe(true);
    expect(isPoisonSuspect(new PublishRejectedError('no stream captures this subject (503 no responders)', 503))).toBe(false);
    expect(isPoisonSuspect(new PublishTimeoutError('no PubAck within 5000 ms'))).toBe(false);
    expect(isPoisonSuspect(new PublishConnectionLostError('dropped'))).toBe(false);
    expect(isPoisonSuspect(new DatabaseAccessError('refused', { retryable: true }))).toBe(false);
    expect(isPoisonSuspect(new AbortedError('aborted'))).toBe(false);
  });

  it('a publish rejected with a 4xx is permanent; 503 and timeouts are passing', () => {
    expect(isPermanentPublishError(new PublishRejectedError('too big', 400, 10054))).toBe(true);
    expect(isPermanentPublishError(new PublishRejectedError('no responders', 503))).toBe(false);
    expect(isPermanentPublishError(new PublishRejectedError('PubAck is not JSON', 0))).toBe(false);
    expect(isPermanentPublishError(new PublishTimeoutError('x'))).toBe(false);
  });
});
