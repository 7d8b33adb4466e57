import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type SystemHandle } from '../../actors/system/system.ts';
import { POISON_MAX_FAILURES } from '../../actors/prediction/predictor.effects.ts';
import { barMessage } from '../../market/index.ts';
import type { ModelSource } from '../../actors/prediction/index.ts';
import { deadLetterSchema, ensureTopology, publishPipelined } from '../../streams/index.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, ledger, tableDuplicates, WARMUP_BARS } from './harness.ts';

const VENUE = 'poisonv';

/** The predictor's model source, failing (a programming error, not an outage) for one symbol. */
function poisoned(models: ModelSource): ModelSource {
  return {
    snapshot(venue, symbol) {
      if (symbol === 'POISON') throw new TypeError(`no model can serve ${venue}.${symbol} (injected fault)`);
      return models.snapshot(venue, symbol);
    },
  };
}

/**
 * A bar that makes the predictor's handler throw: the predictor actor crashes,
 * the phase supervisor restarts it with backoff, the bar comes back (the
 * innocent bars of its batch go through one at a time) and after
 * POISON_MAX_FAILURES failed handlings it is dead-lettered with reason 'poison'. The
 * system stays healthy and every other bar is predicted exactly once.
 */
describe('a child actor that throws on a poison message', () => {
  let sys: TestSystem;
  let system: SystemHandle | undefined;
  beforeAll(async () => {
    sys = await startTestSystem('faults_poison', { METRICS_PORT: 0, RETRY_MIN_MS: 100, RETRY_MAX_MS: 1_000, INGEST_ACK_WAIT_MS: 5_000 });
  });
  afterAll(async () => {
    await system?.stop().catch(() => undefined);
    await sys?.dispose();
  });

  it('supervised restarts, the poison dead-lettered after N failures, every other bar predicted once', async () => {
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
    system = startSystem({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, pretrainEpochs: 1, maxRestarts: 5, wrapModels: poisoned });
    await system.ready(50_000);
    const bars = marketSlice(3_000, 90);
    const js = jetstream(sys.nc);
    const poison = barMessage(VENUE, 'POISON', bars[60]!);
    // One feed in time order: the poison bar lands in a batch with good bars.
    const feed = [...bars.slice(0, 61).map((b) => barMessage(VENUE, 'GOOD', b)), poison, ...bars.slice(61).map((b) => barMessage(VENUE, 'GOOD', b))];
    await publishPipelined(js, feed);

    const predsExpected = bars.length - WARMUP_BARS;
    await eventually(async () => (await readStream(sys.nc, 'MD_DLQ', `md.invalid.${VENUE}.>`)).length > 0, 45_000, 'the poison bar in MD_DLQ');
    await eventually(async () => (await ledger(sys.nc, sys.db, VENUE)).predMessages >= predsExpected, 30_000, `${predsExpected} predictions of GOOD`).catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(await ledger(sys.nc, sys.db, VENUE))} status ${JSON.stringify(system?.status().children)} ${JSON.stringify(system?.status().predictor)}`);
    });

    const dlq = await readStream(sys.nc, 'MD_DLQ', `md.invalid.${VENUE}.>`);
    expect(dlq.length, 'the poison bar is dead-lettered exactly once').toBe(1);
    const letter = deadLetterSchema.safeParse(dlq[0]?.data);
    expect(letter.success, 'the dead letter follows the MD_DLQ contract').toBe(true);
    if (!letter.success) return;
    expect(letter.data.reason).toBe('poison');
    expect(letter.data.subject).toBe(`md.bar.1m.${VENUE}.POISON`);
    expect(letter.data.issues.join(' '), 'the dead letter says why').toMatch(new RegExp(`failed on it ${POISON_MAX_FAILURES} times`));

    const status = system.status();
    expect(status.children.predictor.restarts, `one supervised restart per failed delivery (${JSON.stringify(status.children.predictor)})`).toBe(POISON_MAX_FAILURES);
    expect(status.phase, 'a few restarts do not degrade the system').toBe('running.healthy');
    expect(status.children.predictor.state).toBe('running');
    const restarts = (await readStream<{ details?: { child?: string } }>(sys.nc, 'OPS_EVENTS', 'ops.alert.child_restart')).filter((m) => m.data.details?.child === 'predictor');
    expect(restarts.length, 'ops.alert.child_restart for each failure of the predictor').toBe(POISON_MAX_FAILURES);

    // Redeliveries (ack wait) must not add anything.
    await new Promise((r) => setTimeout(r, 6_000));
    const l = await ledger(sys.nc, sys.db, VENUE);
    expect(l.missingPredictions, 'every good bar after warm-up has its prediction').toEqual([]);
    expect(l.predMessages, 'one prediction message per good bar after warm-up').toBe(predsExpected);
    expect(l.distinctPredKeys).toBe(predsExpected);
    expect(l.predictions, 'one stored prediction per good bar after warm-up').toBe(predsExpected);
    // External bars are stored before they are predicted: the poison bar is valid market data the model failed on.
    expect(l.bars, 'every bar stored once, the poison one included').toBe(bars.length + 1);
    expect(await tableDuplicates(sys.db, VENUE)).toBe(0);
  }, 120_000);
});
