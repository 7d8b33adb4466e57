import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../../config/index.ts';
import { insertPredictions, readBars, upsertBars, withTransaction, type Db } from '../../sql/index.ts';
import {
  ackPublisher,
  ensureDurable,
  ORIGIN_HEADER,
  publishPipelined,
  subjects,
  wildcards,
  type Bar,
  type DecodeFailure,
  type Prediction,
  type PulledMsg,
} from '../../streams/index.ts';
import { startBatchConsumer, type BatchConsumerHandle } from '../../streams/index.ts';
import { validateBar } from '../../actors/quality/index.ts';
import { deadLetter } from '../../streams/index.ts';
import { EwmaForecaster } from './ewma-forecaster.ts';

export type BaselinePredictorDeps = { nc: NatsConnection; db: Db; settings: Settings; log: Logger; durable?: string };
export type BaselinePredictorStats = { bars: number; externalBars: number; predictions: number; invalid: number };
export type BaselinePredictorHandle = { stats: BaselinePredictorStats; stop(): Promise<void> };

/** Version label of the baseline component in every prediction it makes. */
export const BASELINE_VERSION = 'baseline-ewma-0.1';
const HISTORY_BARS = 200;

/** Dedup id of a prediction: one per venue, symbol, bar and horizon. */
export const predictionMsgId = (p: Pick<Prediction, 'venue' | 'symbol' | 'ts' | 'horizon'>): string =>
  `${p.venue}:${p.symbol}:${p.ts}:${p.horizon}`;

/**
 * The placeholder predictor of the foundation: consumes closed bars, stores bars
 * that come from external feeds, and publishes an EWMA forecast of the next
 * 1-minute log return per symbol on `signal.pred.<venue>.<symbol>` (and in
 * `predictions`). Publish first (deduplicated by id), then store, then ack: a
 * crash anywhere repeats the work without duplicating anything.
 */
export async function startBaselinePredictor(deps: BaselinePredictorDeps): Promise<BaselinePredictorHandle> {
  const log = deps.log.child({ actor: 'baselinePredictor' });
  const durable = deps.durable ?? 'baseline_predictor';
  const js = ackPublisher(deps.nc);
  const jsm = await jetstreamManager(deps.nc);
  await ensureDurable(jsm, {
    stream: 'MD_BARS',
    durable,
    filterSubject: wildcards.bars1m,
    ackWaitMs: deps.settings.INGEST_ACK_WAIT_MS,
    maxAckPending: 20_000,
  });
  const states = new Map<string, { f: EwmaForecaster; lastTs: number }>();
  const stats: BaselinePredictorStats = { bars: 0, externalBars: 0, predictions: 0, invalid: 0 };

  const stateFor = async (bar: Bar) => {
    const key = `${bar.venue}.${bar.symbol}`;
    const known = states.get(key);
    if (known) return { f: known.f.clone(), lastTs: known.lastTs };
    const f = new EwmaForecaster();
    const history = await readBars(deps.db, bar.venue, bar.symbol, bar.ts - HISTORY_BARS * 60_000, bar.ts - 60_000);
    for (const h of history) f.update(h.close);
    return { f, lastTs: history.at(-1)?.ts ?? 0 };
  };

  const handle = async (batch: PulledMsg[]): Promise<PulledMsg[]> => {
    const now = Date.now();
    const valid: PulledMsg[] = [];
    const bars: Bar[] = [];
    const external: Bar[] = [];
    const rejected: { msg: PulledMsg; failure: DecodeFailure }[] = [];
    for (const msg of batch) {
      const r = validateBar(msg.subject, msg.data, deps.settings.MAX_PAYLOAD_BYTES);
      if (!r.ok) {
        rejected.push({ msg, failure: r });
        continue;
      }
      valid.push(msg);
      bars.push(r.value);
      if (msg.headers?.get(ORIGIN_HEADER) !== 'market-sync') external.push(r.value);
    }
    await deadLetter(js, rejected, 3, now);
    if (external.length > 0) await withTransaction(deps.db, (c) => upsertBars(c, external));
    // Work on copies so a failed (and retried) batch leaves the forecasters untouched.
    const next = new Map<string, { f: EwmaForecaster; lastTs: number }>();
    const preds: Prediction[] = [];
    for (const bar of bars) {
      const key = `${bar.venue}.${bar.symbol}`;
      const s = next.get(key) ?? (await stateFor(bar));
      next.set(key, s);
      if (bar.ts <= s.lastTs) continue; // a correction of a past bar: the prediction after it was made already
      s.f.update(bar.close);
      s.lastTs = bar.ts;
      const fc = s.f.forecast();
      if (!fc) continue;
      preds.push({
        venue: bar.venue,
        symbol: bar.symbol,
        ts: bar.ts,
        horizon: '1m',
        createdAt: Date.now(),
        value: fc.value,
        pUp: fc.pUp,
        confidence: fc.confidence,
        regime: 'unknown',
        components: [{ role: 'baseline', version: BASELINE_VERSION, weight: 1, value: fc.value }],
        quality: 'ok',
      });
    }
    await publishPipelined(
      js,
      preds.map((p) => ({ subject: subjects.prediction(p.venue, p.symbol), payload: p, msgId: predictionMsgId(p) })),
    );
    await insertPredictions(deps.db, preds);
    for (const [k, v] of next) states.set(k, v);
    stats.bars += bars.length;
    stats.externalBars += external.length;
    stats.predictions += preds.length;
    stats.invalid += rejected.length;
    return valid;
  };

  const consumer: BatchConsumerHandle = startBatchConsumer({
    nc: deps.nc,
    stream: 'MD_BARS',
    durable,
    batchSize: 1_000,
    retryMinMs: deps.settings.RETRY_MIN_MS,
    retryMaxMs: deps.settings.RETRY_MAX_MS,
    ackWaitMs: deps.settings.INGEST_ACK_WAIT_MS,
    log,
    handle,
  });
  consumer.done.catch((err: unknown) => log.error({ err }, 'baseline predictor stopped'));
  return { stats, stop: () => consumer.stop() };
}
