import type { NatsConnection } from '@nats-io/transport-node';
import { FeatureBuilder, type NeuralPredictor } from '../../models/index.ts';
import { specOf } from '../../models/index.ts';
import { readLastBars, type Db } from '../../sql/index.ts';
import { barSchema, decodeJson, subjects } from '../../streams/index.ts';

export type LiveInferenceOptions = {
  nc: NatsConnection;
  db: Db;
  predictor: NeuralPredictor;
  venue: string;
  symbol: string;
  /** Stop after this many predictions (default: until the signal aborts). */
  count?: number;
  signal: AbortSignal;
  /** One forecast per closed bar, in bar order. */
  onForecast(f: { ts: number; value: number; pUp: number }): void;
};

/**
 * Predicts on the live bar stream `md.bar.1m.<venue>.<symbol>`: warms the feature
 * builder up from the bars already stored (bars_1m), then predicts after every
 * new closed bar. Corrections of past bars (same or older ts) are skipped.
 * Resolves with the number of predictions made.
 */
export async function inferLive(o: LiveInferenceOptions): Promise<number> {
  const spec = specOf(o.predictor.preprocessor);
  const builder = new FeatureBuilder(spec);
  const need = spec.volWindow + spec.lookback + 1;
  // Subscribe first, then read history: a bar closing in between is in one or the other.
  const sub = o.nc.subscribe(subjects.bar1m(o.venue, o.symbol));
  for (const b of await readLastBars(o.db, o.venue, o.symbol, need)) builder.push(b);
  let made = 0;
  const done = new Promise<void>((resolve) => {
    o.signal.addEventListener('abort', () => resolve(), { once: true });
    void (async () => {
      for await (const m of sub) {
        const r = decodeJson(barSchema, m.data, 1_048_576);
        if (!r.ok || r.value.ts <= builder.lastTs) continue;
        const w = builder.push(r.value);
        const f = w ? o.predictor.predict(w) : undefined;
        if (!f) continue;
        o.onForecast({ ts: r.value.ts, value: f.value, pUp: f.pUp });
        made += 1;
        if (o.count !== undefined && made >= o.count) break;
      }
      resolve();
    })();
  });
  await done;
  sub.unsubscribe();
  return made;
}
