import { beforeAll, describe, expect, it } from 'vitest';
import { BarLane } from '../../../../actors/ingest/bar-lane.ts';
import { startMarketSync } from '../../../../actors/ingest/market-sync.ts';
import { startPredictors } from '../../../../actors/prediction/predictor.ts';
import { synthBars, synthSymbol, tickMessages } from '../../../../market/index.ts';
import { NaiveBaseline } from '../../../../models/index.ts';
import { StaticModelSource } from '../../../../actors/prediction/index.ts';
import { readBars } from '../../../../sql/index.ts';
import { readPredictions } from '../../../../sql/predictions.repo.ts';
import { ackPublisher, publishPipelined, type OutboundMessage, type Prediction } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem } from '../../../helpers/system.ts';

const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false };
const VENUE = 'lane';
const SYMBOLS = 4;
const MINUTES = 120;

/** Ticks of SYMBOLS synthetic series, minute by minute (4 per bar, in time order). */
function ticksByMinute(): OutboundMessage[][] {
  const prev = new Map<string, number>();
  const out: OutboundMessage[][] = [];
  const bars = [...synthBars({ symbols: SYMBOLS, minutes: MINUTES, seed: 11 })];
  for (let m = 0; m < MINUTES; m += 1) {
    const perSymbol = bars.slice(m * SYMBOLS, (m + 1) * SYMBOLS).map((b) => {
      const t = tickMessages(VENUE, b.symbol, b, prev.get(b.symbol));
      prev.set(b.symbol, b.close);
      return t;
    });
    const minute: OutboundMessage[] = [];
    for (let k = 0; k < 4; k += 1) {
      for (const t of perSymbol) {
        const tick = t[k];
        if (tick) minute.push(tick);
      }
    }
    out.push(minute);
  }
  return out;
}

const models = () =>
  new StaticModelSource([{ role: 'pretrained', version: 'ewma', regime: 'any', predictor: new NaiveBaseline('naive-ewma', spec.lookback) }]);

type Run = { rows: Prediction[]; stream: Prediction[]; core: Prediction[]; lane: number; mismatches: number; storedBars: number };

/**
 * One system (its own nats-server and database): marketSync and the predictor,
 * with or without the lane; the ticks are published minute by minute and, with
 * `restartSync`, marketSync is stopped and a new one started halfway.
 */
async function run(name: string, withLane: boolean, restartSync: boolean): Promise<Run> {
  const sys = await startTestSystem(name, { BAR_GRACE_MS: 3_600_000 });
  try {
    const lane = withLane ? new BarLane() : undefined;
    const base = { nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, ...(lane ? { lane } : {}) };
    let sync = startMarketSync(base);
    await sync.ready();
    const h = startPredictors({ ...base, models: models(), spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    await h.ready();
    const core: Prediction[] = [];
    const sub = sys.nc.subscribe(`signal.pred.${VENUE}.>`, { callback: (_e, m) => void core.push(m.json<Prediction>()) });
    const js = ackPublisher(sys.nc);
    const minutes = ticksByMinute();
    for (const [m, minute] of minutes.entries()) {
      if (restartSync && m === MINUTES / 2) {
        await sync.stop();
        sync = startMarketSync(base);
        await sync.ready();
      }
      await publishPipelined(js, minute, 512);
      // As live: the next minute's ticks come after this minute's closed bars were handled.
      await eventually(() => h.actor.getSnapshot().context.stats.bars >= SYMBOLS * m, 20_000, `bars of minute ${m - 1} handled`);
    }
    // Every minute but the last (still open) closes: MINUTES - 1 bars per symbol reach the predictor.
    const bars = SYMBOLS * (MINUTES - 1);
    await eventually(() => h.actor.getSnapshot().context.stats.bars >= bars, 60_000, 'every bar handled by the predictor');
    await eventually(async () => {
      let n = 0;
      for (let i = 0; i < SYMBOLS; i += 1) n += (await readPredictions(sys.db, VENUE, synthSymbol(i))).length;
      return n === core.length;
    }, 10_000, 'stored and published agree');
    await sys.nc.flush();
    sub.unsubscribe();
    const st = h.actor.getSnapshot().context.stats;
    await h.stop();
    await sync.stop();
    const rows: Prediction[] = [];
    let storedBars = 0;
    for (let i = 0; i < SYMBOLS; i += 1) {
      rows.push(...(await readPredictions(sys.db, VENUE, synthSymbol(i))));
      storedBars += (await readBars(sys.db, VENUE, synthSymbol(i))).length;
    }
    const stream = (await readStream<Prediction>(sys.nc, 'SIGNALS', `signal.pred.${VENUE}.>`)).map((m) => m.data);
    return { rows, stream, core, lane: st.lane, mismatches: st.laneMismatches, storedBars };
  } finally {
    await sys.dispose();
  }
}

const keyOf = (p: Prediction) => `${p.symbol}:${p.ts}`;
const comparable = (ps: readonly Prediction[]) =>
  [...ps].sort((a, b) => keyOf(a).localeCompare(keyOf(b))).map((p) => ({ key: keyOf(p), value: p.value, pUp: p.pUp, confidence: p.confidence, regime: p.regime }));

describe('the fast lane from marketSync to the predictor (real nats-server and PostgreSQL)', () => {
  let withLane: Run;
  let durableOnly: Run;
  beforeAll(async () => {
    withLane = await run('lane_on', true, true);
    durableOnly = await run('lane_off', false, false);
  }, 180_000);

  it('predicts most bars on the lane, and the lane bars equal the stored ones', () => {
    expect(withLane.storedBars).toBe(SYMBOLS * (MINUTES - 1));
    expect(withLane.mismatches).toBe(0);
    expect(withLane.lane, 'predictions made on the lane').toBeGreaterThan(0.8 * withLane.rows.length);
    expect(durableOnly.lane).toBe(0);
  });

  it('publishes and stores every prediction exactly once, also across a restart of marketSync', () => {
    // The first volWindow + lookback - 1 bars of a symbol fill its feature window.
    const warm = spec.volWindow + spec.lookback - 1;
    const expected = SYMBOLS * (MINUTES - 1 - warm);
    for (const r of [withLane, durableOnly]) {
      expect(r.rows.length, 'one stored prediction per bar after the warm-up').toBe(expected);
      expect(r.stream.length, 'one message per prediction in SIGNALS').toBe(expected);
      expect(new Set(r.stream.map(keyOf)).size).toBe(expected);
      expect(r.core.length, 'core subscribers see each prediction once').toBe(expected);
      expect(new Set(r.core.map(keyOf)).size).toBe(expected);
    }
  });

  it('gives the same predictions as the durable path alone', () => {
    const a = comparable(withLane.rows);
    const b = comparable(durableOnly.rows);
    expect(a.map((x) => x.key)).toEqual(b.map((x) => x.key));
    const worst = Math.max(...a.map((x, i) => Math.abs(x.value - (b[i]?.value ?? NaN)) + Math.abs(x.pUp - (b[i]?.pUp ?? NaN)) + Math.abs(x.confidence - (b[i]?.confidence ?? NaN))));
    expect(worst).toBeLessThan(1e-9);
    expect(a.map((x) => x.regime)).toEqual(b.map((x) => x.regime));
  });
});
