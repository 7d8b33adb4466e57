import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { startBatchConsumer } from '../../streams/index.ts';
import type { Logger } from '../../config/index.ts';
import { FeatureBuilder, type FeatureSpec } from '../../models/index.ts';
import type { ModelSource } from '../../actors/prediction/index.ts';
import { insertPredictions, type Db } from '../../sql/index.ts';
import { barSchema, decodeJson, ensureDurable, publishPipelined, subjects, wildcards, type Prediction, type PulledMsg } from '../../streams/index.ts';

/**
 * A minimal predictor loop over any `ModelSource`, for the hot-swap benchmark and
 * the lifecycle tests (the hybrid predictor is the production one):
 * consumes closed bars, takes ONE snapshot per batch (the bar boundary where a
 * swap may land), predicts with the pretrained `any` model, publishes each
 * prediction with its dedup id, stores it, then acks. Every prediction names
 * the exact version that computed it.
 */
export type ServingLoopOptions = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  models: ModelSource;
  spec: FeatureSpec;
  durable: string;
  batchSize?: number;
  /** Called once per handled batch with its size, the versions used and its latency (ms, receipt -> stored). */
  onBatch?: (b: { bars: number; predictions: number; versions: string[]; latencyMs: number; receivedAt: number }) => void;
  storePredictions?: boolean;
};

export type ServingLoopHandle = { stats: { bars: number; predictions: number; noModel: number }; stop(): Promise<void> };

export async function startServingLoop(o: ServingLoopOptions): Promise<ServingLoopHandle> {
  const log = o.log.child({ actor: 'servingLoop' });
  const js = jetstream(o.nc);
  await ensureDurable(await jetstreamManager(o.nc), { stream: 'MD_BARS', durable: o.durable, filterSubject: wildcards.bars1m, ackWaitMs: 30_000, maxAckPending: 20_000 });
  const builders = new Map<string, FeatureBuilder>();
  const stats = { bars: 0, predictions: 0, noModel: 0 };

  const handle = async (batch: PulledMsg[]): Promise<PulledMsg[]> => {
    const receivedAt = performance.now();
    const preds: Prediction[] = [];
    const used = new Set<string>();
    // One snapshot per symbol per batch: a swap lands between batches, never inside one.
    const snaps = new Map<string, ReturnType<ModelSource['snapshot']>>();
    const ack: PulledMsg[] = [];
    for (const msg of batch) {
      const r = decodeJson(barSchema, msg.data, 4_096);
      if (!r.ok) {
        msg.term();
        continue;
      }
      ack.push(msg);
      const bar = r.value;
      const key = `${bar.venue}.${bar.symbol}`;
      let fb = builders.get(key);
      if (!fb) {
        fb = new FeatureBuilder(o.spec);
        builders.set(key, fb);
      }
      if (bar.ts <= fb.lastTs) continue;
      const window = fb.push(bar);
      stats.bars += 1;
      if (!window) continue;
      let snap = snaps.get(key);
      if (!snap) {
        snap = o.models.snapshot(bar.venue, bar.symbol);
        snaps.set(key, snap);
      }
      const model = snap.pretrained.find((m) => m.regime === 'any') ?? snap.pretrained[0];
      if (!model) {
        stats.noModel += 1;
        continue;
      }
      const f = model.predictor.predict(window);
      if (!f) continue;
      used.add(model.version);
      preds.push({
        venue: bar.venue,
        symbol: bar.symbol,
        ts: bar.ts,
        horizon: '1m',
        createdAt: Date.now(),
        value: f.value,
        pUp: f.pUp,
        confidence: Math.min(1, Math.abs(f.pUp - 0.5) * 2),
        regime: model.regime,
        components: [{ role: model.role, version: model.version, weight: 1, value: f.value }],
        quality: 'ok',
      });
    }
    await publishPipelined(
      js,
      preds.map((p) => ({ subject: subjects.prediction(p.venue, p.symbol), payload: p, msgId: `${p.venue}:${p.symbol}:${p.ts}:${p.horizon}` })),
    );
    if (o.storePredictions !== false) await insertPredictions(o.db, preds);
    stats.predictions += preds.length;
    o.onBatch?.({ bars: batch.length, predictions: preds.length, versions: [...used], latencyMs: performance.now() - receivedAt, receivedAt });
    return ack;
  };

  const consumer = startBatchConsumer({ nc: o.nc, stream: 'MD_BARS', durable: o.durable, batchSize: o.batchSize ?? 500, retryMinMs: 50, retryMaxMs: 2_000, ackWaitMs: 30_000, log, handle });
  consumer.done.catch((err: unknown) => log.error({ err }, 'serving loop stopped'));
  return { stats, stop: () => consumer.stop() };
}
