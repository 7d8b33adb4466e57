import { Cron } from 'croner';
import { z } from 'zod';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Data-quality settings (backfill, consistency checks); documented in README "Configuration". */
export const qualitySettingsShape = {
  /** Directory of bars CSV files (`<venue>/<symbol>.csv` or `<symbol>.csv`) the backfill fills gaps from. */
  QUALITY_HISTORY_DIR: z.string().min(1).optional(),
  /** `venue=sourceVenue` pairs: bars of `sourceVenue` in this database's bars_1m are history for `venue`. */
  QUALITY_HISTORY_VENUES: z.string().default(''),
  /** A symbol seen for the first time gets this many days of history before its first bar, from the sources above (0 = none). */
  QUALITY_HISTORY_DAYS: z.coerce.number().min(0).max(3_650).default(2),
  QUALITY_INTERPOLATE: bool.default(false),
  QUALITY_SILENCE_TIMEOUT_MS: int(0, 86_400_000).default(300_000),
  QUALITY_LIVE_LAG_MS: int(0, 365 * 86_400_000).default(86_400_000),
  QUALITY_CALENDARS: z.string().default(''),
  QUALITY_EXPECTED_START: z.string().default(''),
  QUALITY_FILL_ATTEMPTS: int(1, 100).default(4),
  QUALITY_RETRY_MIN_MS: int(1, 600_000).default(1_000),
  QUALITY_RETRY_MAX_MS: int(1, 3_600_000).default(60_000),
  QUALITY_WINDOW_MS: int(60_000, 86_400_000).default(900_000),
  QUALITY_TICK_MS: int(100, 600_000).default(5_000),
  QUALITY_DURABLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('quality_supervisor'),
};

const num = (min: number, max: number) => z.coerce.number().min(min).max(max);

/** Model lifecycle settings: the gate, automatic rollback, retraining; documented in README "Configuration". */
/** `off`, or a cron expression croner accepts (5 fields, or 6 with seconds; UTC). */
function cronOrOff(v: string): boolean {
  if (v.trim() === 'off') return true;
  try {
    new Cron(v, { timezone: 'UTC', paused: true }).stop();
    return true;
  } catch {
    return false;
  }
}

export const lifecycleSettingsShape = {
  /** Gate, pretrained challengers: ROC AUC floor, largest AUC / F1 drop against the champion (percent). */
  GATE_AUC_FLOOR: num(0, 1).default(0.6),
  GATE_MAX_AUC_DROP_PCT: num(0, 100).default(2),
  GATE_MAX_F1_DROP_PCT: num(0, 100).default(5),
  /** Gate: confidence of the bootstrap intervals of paired loss differences, and their resamples. */
  GATE_CONFIDENCE: num(0.5, 0.999).default(0.95),
  GATE_BOOTSTRAP_SAMPLES: int(100, 100_000).default(1_000),
  /** Gate, online models: largest tolerated mean loss excess over the model they serve beside (upper CI end). */
  GATE_ONLINE_MARGIN: num(0, 10).default(0.02),
  /** Gate, every model: the lower CI end of its loss minus the best naive baseline's may be at most this (0 = not significantly worse). */
  GATE_BASELINE_MARGIN: num(0, 10).default(0),
  /** Live skill = naive loss / model loss over the last ROLLBACK_WINDOW realised outcomes of a serving version. */
  ROLLBACK_WINDOW: int(10, 100_000).default(120),
  /** Below this skill `ops.alert.model_degraded` is raised. */
  MODEL_DEGRADED_SKILL: num(0, 1).default(0.95),
  /** Below this skill the version is rolled back (online without a predecessor: withdrawn). */
  ROLLBACK_SKILL: num(0, 1).default(0.9),
  /** A challenger that passed the gate: `staged` = shadow, canary, then promoted or rolled back on live evidence; `immediate` = activated at once. */
  ROLLOUT_MODE: z.enum(['staged', 'immediate']).default('staged'),
  /** Paired realised outcomes (champion and challenger on the same bars) the challenger spends in shadow before its canary. */
  ROLLOUT_SHADOW_OUTCOMES: int(1, 1_000_000).default(120),
  /** Share of the scope's symbols the challenger serves in canary (stable hash of venue.symbol; at least one symbol). */
  ROLLOUT_CANARY_FRACTION: num(0.0001, 1).default(0.1),
  /** Paired outcomes (shadow and canary together) before the challenger can be promoted to every symbol. */
  ROLLOUT_PROMOTE_OUTCOMES: int(2, 1_000_000).default(360),
  /** The paired test is looked at every this many new outcomes (each look spends part of the error rate). */
  ROLLOUT_CHECK_EVERY: int(1, 100_000).default(30),
  /** Confidence of the sequential paired test, over all its looks (promotion and rollback each). */
  ROLLOUT_CONFIDENCE: num(0.5, 0.9999).default(0.95),
  /** Promotion: the challenger's mean loss may exceed the champion's by at most this share of it (upper bound). */
  ROLLOUT_MARGIN: num(0, 1).default(0.02),
  /** A rollout still undecided after this many paired outcomes ends, keeping the champion. */
  ROLLOUT_MAX_OUTCOMES: int(10, 10_000_000).default(5_000),
  /** Scheduled retrain of every symbol's pretrained model (cron, UTC; `off` = never). */
  RETRAIN_SCHEDULE: z.string().min(1).default('0 3 1 * *').refine(cronOrOff, { message: 'expected a cron expression (minute hour day month weekday, UTC; 6 fields with seconds) or off' }),
  /** How often the feedback rule is evaluated (ms; 0 = never). */
  FEEDBACK_CHECK_MS: int(0, 86_400_000).default(60_000),
  /** Feedback: corrections since the last training needed, with FEEDBACK_MIN_DAYS passed or the urgent count reached. */
  FEEDBACK_MIN_CORRECTIONS: int(1, 10_000_000).default(100),
  FEEDBACK_MIN_DAYS: num(0, 3650).default(7),
  FEEDBACK_URGENT_CORRECTIONS: int(1, 10_000_000).default(1_000),
  /** A realised outcome whose direction was right is still a correction when |forecast - actual| exceeds this (log return). */
  FEEDBACK_ERROR_BOUND: num(0, 10).default(0.01),
  /** Training attempts after the first failed one, before `model.events.retrain_failed`. */
  RETRAIN_MAX_RETRIES: int(0, 10).default(3),
  /** Horizons (minutes) every closed bar is forecast for; 1 is always among them (the top-level fields). */
  SIGNAL_HORIZONS: z
    .string()
    .default('1,5,15,60')
    .transform((v, ctx) => {
      const parts = v.split(',').map((x) => x.trim()).filter((x) => x !== '');
      const minutes = parts.map(Number);
      if (minutes.length === 0 || minutes.some((m) => !Number.isInteger(m) || m < 1 || m > 1_440)) {
        ctx.addIssue({ code: 'custom', message: 'expected comma-separated whole minutes in [1, 1440], e.g. 1,5,15,60' });
        return z.NEVER;
      }
      return [...new Set([1, ...minutes])].sort((a, b) => a - b);
    }),
};

/**
 * Every setting of the system, keyed by its environment variable name.
 * Defaults are the documented ones (README "Configuration").
 */
export const settingsSchema = z.object({
  NATS_URL: z.string().min(1).default('nats://127.0.0.1:4222'),
  /** Replicas of every stream and KV bucket: 1 on one server, 3 on a three-node JetStream cluster. */
  NATS_REPLICAS: int(1, 5).default(1),
  NATS_USER: z.string().optional(),
  NATS_PASS: z.string().optional(),
  NATS_TOKEN: z.string().optional(),
  NATS_CREDS_FILE: z.string().optional(),
  NATS_TLS_CA_FILE: z.string().optional(),
  /**
   * Capture a stack trace at every NATS request / JetStream publish (a debugging aid:
   * async errors then point at their caller). Off by default: building those Error
   * objects took a fifth of the CPU of the prediction hot path.
   */
  NATS_ASYNC_TRACES: bool.default(false),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgresql://postgres@127.0.0.1:5432/signals'),
  LOG_LEVEL: logLevel.default('info'),
  /** Log level of the training child process (lifecycle/train-worker.ts; its log goes to stderr, whose tail ends up in a failed run's error). */
  TRAIN_LOG_LEVEL: logLevel.default('warn'),
  /** Ticks pulled and stored per database transaction. */
  INGEST_BATCH_SIZE: int(1, 100_000).default(5_000),
  /** Optional linger (ms) for a batch to fill; 0 = natural batching (whatever arrived while the last batch was stored). */
  INGEST_BATCH_WAIT_MS: int(0, 1_000).default(0),
  /** JetStream ack wait for the tick consumer; a batch not acked by then is redelivered. */
  INGEST_ACK_WAIT_MS: int(1_000, 600_000).default(30_000),
  /** Ingest with work pending whose ack floor has not moved for this long raises `ops.alert.ingest_stalled`. */
  INGEST_STALL_MS: int(1_000, 3_600_000).default(30_000),
  /** SIGINT/SIGTERM: a stop that has not finished after this long ends the process anyway (exit code 11; unacked messages are redelivered). */
  STOP_TIMEOUT_MS: int(100, 600_000).default(10_000),
  /** Maximum tick payload in bytes; larger ones are dead-lettered. */
  MAX_PAYLOAD_BYTES: int(64, 1_048_576).default(4_096),
  /** A live tick whose ts is further than this from now is rejected (replay mode accepts any past ts). */
  TICK_MAX_SKEW_MS: int(0, 365 * 86_400_000).default(300_000),
  /** Accept ticks of any past time (replays, backfills). */
  ACCEPT_PAST_TICKS: bool.default(true),
  /** A bar closes when a tick of a later minute arrives, or after this long with no tick. */
  BAR_GRACE_MS: int(0, 3_600_000).default(5_000),
  /** Backoff bounds while the database or NATS is unavailable. */
  RETRY_MIN_MS: int(10, 60_000).default(200),
  RETRY_MAX_MS: int(100, 600_000).default(10_000),
  /** Durable consumer name of the ingest path. */
  INGEST_DURABLE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('market_sync'),
  STREAM_MAX_AGE_DAYS: int(1, 3650).default(7),
  STREAM_MAX_BYTES_MB: int(16, 1_048_576).default(4_096),
  DUPLICATE_WINDOW_S: int(1, 86_400).default(600),
  TFJS_BACKEND: z.enum(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']).optional(),
  ARTIFACTS_DIR: z.string().min(1).default('artifacts'),
  /** Where `signals backup` (without --out) and the scheduled backups write. */
  BACKUP_DIR: z.string().min(1).default('backups'),
  /** Cron (UTC) of the backup `signals run` takes; `off` = none. */
  BACKUP_SCHEDULE: z.string().min(1).default('30 2 * * *').refine(cronOrOff, { message: 'expected a cron expression (minute hour day month weekday, UTC) or off' }),
  /** Complete scheduled backups kept; older ones are deleted after each new one. */
  BACKUP_KEEP: int(1, 3_650).default(30),
  METRICS_PORT: int(0, 65_535).default(9464),
  /** The live web dashboard `signals run` and `signals dashboard` serve; `off` = none, 0 = any free port. */
  DASHBOARD_PORT: z.union([z.literal('off'), int(0, 65_535)]).default(8080),
  /** Interface the dashboard listens on: loopback unless you choose to expose it. */
  DASHBOARD_HOST: z.string().min(1).default('127.0.0.1'),
  /** When set, every dashboard request needs it (`?token=` once, then a cookie; or `Authorization: Bearer`). */
  DASHBOARD_TOKEN: z.string().min(8).optional(),
  /** Lets the page request a retrain or a rollback (with a confirmation), through the same service endpoints as the CLI. */
  DASHBOARD_ACTIONS: bool.default(false),
  /** Hours of a symbol's history the page loads when it opens. */
  DASHBOARD_HISTORY_HOURS: int(1, 168).default(6),
  /** Several processes share the work: one ingest leader (lease), symbols partitioned by work claims in KV `work_claims`. */
  SCALE_OUT: bool.default(false),
  /** Scale-out: a work claim not refreshed for this long belongs to a dead process and is taken over. */
  CLAIM_TTL_MS: int(500, 600_000).default(5_000),
  ...qualitySettingsShape,
  ...lifecycleSettingsShape,
});

export type Settings = z.infer<typeof settingsSchema>;

/** The `QUALITY_*` part of `Settings` (what the quality supervisor is configured by). */
export type QualityEnvSettings = Pick<Settings, keyof typeof qualitySettingsShape>;
