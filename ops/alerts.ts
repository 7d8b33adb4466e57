import { hostname } from 'node:os';
import type { JetStreamClient, PubAck } from '@nats-io/jetstream';
import { z } from 'zod';
import { SignalsError, type Logger } from '../config/index.ts';
import { epochMs, publishJson, subjects, TOKEN_PATTERN } from '../streams/index.ts';
import type { OpsMetrics } from './metrics.ts';

/**
 * Alerts: operational events someone should look at, published on
 * `ops.alert.<kind>` (stream OPS_EVENTS, kept 30 days) and logged.
 * `nats sub 'ops.alert.>'` follows them live.
 */
export const ALERT_KINDS = [
  /** A symbol's data went degraded (gaps, stale feed) or the system went degraded (a child failing repeatedly). */
  'degraded',
  /** A symbol is quarantined: predictions withheld. */
  'quarantined',
  /** A model version was rolled back or withdrawn (automatically or by hand). */
  'rollback',
  /** A serving model's live skill against the naive forecast fell below MODEL_DEGRADED_SKILL. */
  'model_degraded',
  /** A retrain failed after its retries (model.events.retrain_failed). */
  'retrain_failed',
  /** A durable consumer is behind by more than the threshold. */
  'consumer_lag',
  /** A supervised child actor crashed and was restarted. */
  'child_restart',
  /** A component recovered (back from degraded, lag cleared, ingest moving again). */
  'recovered',
  /** Ingest has work pending but its ack floor has not moved for INGEST_STALL_MS. */
  'ingest_stalled',
  /** NATS refused a dead letter for good: the bad message was settled without one (logged with its stream sequence). */
  'dead_letter_failed',
  /** The scheduled backup failed (its partial directory removed). */
  'backup_failed',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

const token = z.string().regex(TOKEN_PATTERN, 'must match [A-Za-z0-9_-]{1,32}');

/** The payload of `ops.alert.<kind>` (contract). */
export const alertSchema = z.strictObject({
  kind: z.enum(ALERT_KINDS),
  severity: z.enum(ALERT_SEVERITIES),
  /** One line for humans. */
  message: z.string().min(1).max(1_000),
  /** When it was raised, epoch ms. */
  at: epochMs,
  /** Process that raised it (`hostname:pid`). */
  source: z.string().min(1).max(200),
  venue: token.optional(),
  symbol: token.optional(),
  /** Structured details (actor, counts, versions...); JSON values only. */
  details: z.record(z.string(), z.json()).optional(),
});
export type Alert = z.output<typeof alertSchema>;

/** What the caller gives: the rest (`kind`, `at`, `source`) is filled in. */
export type AlertInput = Omit<Alert, 'kind' | 'at' | 'source'> & { at?: number };

/** An alert that failed its own schema (a bug in the caller). Not retryable. */
export class InvalidAlertError extends SignalsError {
  override readonly name = 'InvalidAlertError';
  override readonly retryable = false;
  constructor(
    readonly kind: string,
    readonly issues: string[],
  ) {
    super(`invalid ${kind} alert: ${issues.join('; ')}`);
  }
}

export type AlertOptions = { log?: Logger; metrics?: OpsMetrics; source?: string; now?: () => number };

const defaultSource = `${hostname()}:${process.pid}`;

/**
 * Validates an alert, logs it (warn, or error when critical) and publishes it on
 * `ops.alert.<kind>`, resolving with the stream's ack. The log line is written
 * before the publish, so an alert is never lost from the logs even when NATS is down;
 * a failed publish rejects (the NATS error as is).
 */
export async function publishAlert(js: JetStreamClient, kind: AlertKind, payload: AlertInput, options: AlertOptions = {}): Promise<PubAck> {
  const { at, ...rest } = payload;
  const parsed = alertSchema.safeParse({
    ...rest,
    kind,
    at: at ?? (options.now ?? Date.now)(),
    source: options.source ?? defaultSource,
  });
  if (!parsed.success) throw new InvalidAlertError(kind, parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const alert = parsed.data;
  const log = options.log?.child({ actor: 'alerts' });
  const fields = { alert: alert.kind, severity: alert.severity, venue: alert.venue, symbol: alert.symbol, details: alert.details };
  if (alert.severity === 'critical') log?.error(fields, alert.message);
  else if (alert.severity === 'warning') log?.warn(fields, alert.message);
  else log?.info(fields, alert.message);
  options.metrics?.alerts.inc({ kind });
  return publishJson(js, { subject: subjects.alert(kind), payload: alert });
}

/**
 * `publishAlert` bound to a client and options, for actors that must never fail
 * because an alert could not be published: a publish failure is logged and
 * resolves `false`.
 */
export function createAlerter(js: JetStreamClient, options: AlertOptions = {}) {
  return async (kind: AlertKind, payload: AlertInput): Promise<boolean> => {
    try {
      await publishAlert(js, kind, payload, options);
      return true;
    } catch (err) {
      if (err instanceof InvalidAlertError) throw err;
      options.log?.warn({ err, alert: kind }, 'alert logged but not published');
      return false;
    }
  };
}
export type Alerter = ReturnType<typeof createAlerter>;
