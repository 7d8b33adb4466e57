import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predictionMsgId, startBaselinePredictor } from '../../../../bench/support/baseline-predictor.ts';
import { readBars, readPredictions } from '../../../../sql/index.ts';
import { ensureTopology, msgIds, predictionSchema, publishPipelined, subjects, type Bar, type DeadLetter, type Prediction } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const T0 = Date.UTC(2024, 2, 1);
const bar = (i: number, close: number): Bar => ({
  venue: 'ext', symbol: 'ETHUSD', interval: '1m', ts: T0 + i * 60_000,
  open: close - 1, high: close + 1, low: close - 2, close, volume: 10, source: 'live',
});

describe('baseline predictor on closed bars', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem('predictor');
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  });
  afterAll(async () => sys?.dispose());

  it('stores external bars, dead-letters invalid ones, and predicts each bar once after warm-up', async () => {
    const closes = [100, 101, 100.5, 102, 103, 102.5, 104, 103, 105, 106];
    const bars = closes.map((c, i) => bar(i, c));
    const js = jetstream(sys.nc);
    await publishPipelined(js, bars.map((b) => ({ subject: subjects.bar1m(b.venue, b.symbol), payload: b, msgId: msgIds.bar(b.venue, b.symbol, b.ts) })));
    // An OHLC violation (high below close) and a bar whose payload disagrees with its subject.
    await js.publish(subjects.bar1m('ext', 'ETHUSD'), new TextEncoder().encode(JSON.stringify({ ...bar(20, 100), high: 99 })));
    await js.publish(subjects.bar1m('ext', 'ETHUSD'), new TextEncoder().encode(JSON.stringify(bar(21, 100)).replace('ETHUSD', 'BTCUSD')));

    const predictor = await startBaselinePredictor({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    try {
      // 10 bars = 9 returns; warm-up needs 5 returns, so bars 5..9 give a prediction each.
      await eventually(async () => (await readPredictions(sys.db, 'ext', 'ETHUSD')).length === 5, 10_000, 'five predictions');
      await eventually(() => predictor.stats.invalid === 2, 10_000, 'two invalid bars');
    } finally {
      await predictor.stop();
    }
    expect((await readBars(sys.db, 'ext', 'ETHUSD')).map((b) => b.close), 'external bars stored as published').toEqual(closes);
    const msgs = await readStream<Prediction>(sys.nc, 'SIGNALS', 'signal.pred.ext.ETHUSD');
    expect(msgs.map((m) => m.data.ts), 'one prediction per bar after warm-up, in order').toEqual(bars.slice(5).map((b) => b.ts));
    for (const m of msgs) {
      expect(predictionSchema.safeParse(m.data).success, 'predictions follow the contract schema').toBe(true);
      expect(m.msgId).toBe(predictionMsgId(m.data));
      expect(m.data.components[0]).toMatchObject({ role: 'baseline', weight: 1, value: m.data.value });
    }
    const p = msgs.at(-1)!.data;
    expect(p.value, 'uptrend: EWMA of log returns is positive').toBeGreaterThan(0);
    expect(p.pUp).toBeGreaterThan(0.5);
    expect(p.confidence).toBeLessThan(1);
    const dlq = await readStream<DeadLetter>(sys.nc, 'MD_DLQ', 'md.invalid.ext.ETHUSD');
    expect(dlq.map((d) => d.data.reason).sort()).toEqual(['schema', 'subject_mismatch']);
    expect(dlq.find((d) => d.data.reason === 'schema')?.data.issues.join(' ')).toMatch(/high must be >= max\(open, close\)/);

    // A restarted predictor does not predict the same bars again.
    const again = await startBaselinePredictor({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, durable: 'baseline_predictor' });
    await new Promise((r) => setTimeout(r, 500));
    await again.stop();
    expect(again.stats.predictions, 'acked bars are not redelivered').toBe(0);
  });
});
