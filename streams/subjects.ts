import { SignalsError } from '../config/index.ts';

/**
 * Subject builders. `venue` and `symbol` are tokens `[A-Za-z0-9_-]{1,32}`; anything
 * else is rejected here, before it can become part of a subject.
 */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;

/** A venue or symbol token that cannot be used in a subject. Not retryable. */
export class InvalidTokenError extends SignalsError {
  override readonly name = 'InvalidTokenError';
  override readonly retryable = false;
  constructor(
    readonly field: 'venue' | 'symbol',
    readonly value: string,
  ) {
    super(`invalid ${field} ${JSON.stringify(value)}: must match [A-Za-z0-9_-]{1,32}`);
  }
}

export function isToken(value: string): boolean {
  return TOKEN_PATTERN.test(value);
}

export function assertToken(field: 'venue' | 'symbol', value: string): string {
  if (!isToken(value)) throw new InvalidTokenError(field, value);
  return value;
}

function scoped(prefix: string) {
  return (venue: string, symbol: string): string =>
    `${prefix}.${assertToken('venue', venue)}.${assertToken('symbol', symbol)}`;
}

export const MODEL_EVENT_KINDS = [
  'deployed',
  'rejected',
  'rolledback',
  'verification_failed',
  'retired',
  'withdrawn',
  'retrain_failed',
  'shadow_started',
  'canary_started',
  'promoted',
] as const;
export type ModelEventKind = (typeof MODEL_EVENT_KINDS)[number];

export const subjects = {
  tick: scoped('md.tick'),
  bar1m: scoped('md.bar.1m'),
  invalid: scoped('md.invalid'),
  quality: scoped('md.quality'),
  gap: scoped('md.gap'),
  prediction: scoped('signal.pred'),
  weights: scoped('signal.weights'),
  /** Forecasts of a challenger in shadow: never on `signal.pred.*`. */
  shadow: scoped('signal.shadow'),
  retrainCmd: 'model.retrain.cmd',
  retrainResult: 'model.retrain.result',
  modelEvent: (kind: ModelEventKind): string => `model.events.${kind}`,
  alert: (kind: string): string => `ops.alert.${assertToken('symbol', kind)}`,
} as const;

/** Wildcards used by consumers. */
export const wildcards = {
  ticks: 'md.tick.>',
  bars1m: 'md.bar.1m.>',
  invalid: 'md.invalid.>',
  predictions: 'signal.pred.>',
  shadow: 'signal.shadow.>',
} as const;

/**
 * Splits `<prefix>.<venue>.<symbol>` into its tokens; `undefined` when the subject
 * does not have that shape. `prefixTokens` is the number of tokens before venue.
 */
export function parseScopedSubject(
  subject: string,
  prefixTokens: number,
): { venue: string; symbol: string } | undefined {
  const parts = subject.split('.');
  if (parts.length !== prefixTokens + 2) return undefined;
  const venue = parts[prefixTokens];
  const symbol = parts[prefixTokens + 1];
  if (venue === undefined || symbol === undefined || !isToken(venue) || !isToken(symbol)) return undefined;
  return { venue, symbol };
}
