import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConfidenceWeighters, createPersistentWeighters, weighterActorId } from '../../actors/prediction/confidence-weighter.effects.ts';
import { createRootLogger } from '../../config/index.ts';
import { NaiveBaseline } from '../../models/index.ts';
import { HybridEngine, StaticModelSource, type EngineBar, type EngineOutput, type ServingModel } from '../../actors/prediction/index.ts';
import { createPool, migrate, readSnapshots, upsertSnapshots, type Db } from '../../sql/index.ts';
import { TestDatabase } from '../helpers/postgres.ts';
import { arReturns, barsFromReturns } from '../support/actors/prediction/fixtures.ts';

const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false };
const now = () => 1_700_000_000_000;
const log = createRootLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** Two components (pretrained naive-ewma, online naive-zero) so the weights really move. */
function models(): StaticModelSource {
  const pretrained: ServingModel = { role: 'pretrained', version: 'naive-ewma', regime: 'any', predictor: new NaiveBaseline('naive-ewma', 12) };
  const online: ServingModel = { role: 'online', version: 'naive-zero', regime: 'any', predictor: new NaiveBaseline('naive-zero', 12) };
  const m = new StaticModelSource([pretrained]);
  m.setOnline('v', 'S', online);
  return m;
}

const bars: EngineBar[] = barsFromReturns(arReturns(260, 0.4, 0.001, 11)).map((b) => ({ ...b, venue: 'v', symbol: 'S' }));

/** What each component forecast for every horizon, without the blend weights it was given. */
function componentForecasts(o: EngineOutput): unknown {
  return o.prediction.components.map((c) => ({
    role: c.role,
    version: c.version,
    value: c.value,
    horizons: Object.fromEntries(Object.entries(c.horizons ?? {}).map(([h, t]) => [h, { value: t.value, pUp: t.pUp, sigma: t.sigma }])),
  }));
}

/** Steps `list` in batches of `size`, calling `after` after each (the per-batch flush). */
async function run(engine: HybridEngine, list: readonly EngineBar[], size: number, after: () => Promise<void> = async () => undefined): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for (let i = 0; i < list.length; i += size) {
    out.push(...engine.step(list.slice(i, i + size)).outputs);
    await after();
  }
  return out;
}

describe('confidence-weighter snapshots in actor_snapshots', () => {
  let database: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    database = await TestDatabase.create('weights_restart');
    db = createPool(database.url, 2);
    await migrate(db);
  });
  afterAll(async () => {
    await db?.end();
    await database?.dispose();
  });

  it.each([
    ['a clean restart (drained: the pending forecasts come from the snapshot)', 0],
    ['a crash before the ack (the last batch is redelivered and must not be scored twice)', 7],
  ])('after %s the weights and predictions continue exactly as without a restart', async (_what, REDELIVERED) => {
    const KILL_AT = 150;
    // Reference: one engine that never stops.
    const reference = new HybridEngine(models(), { spec }, { now, weightKeeper: createConfidenceWeighters() });
    const refOut = await run(reference, bars.slice(0, KILL_AT), 10);
    const atKill = reference.status('v', 'S');
    refOut.push(...(await run(reference, bars.slice(KILL_AT), 10)));

    // First process: persists after every batch, then dies after bar KILL_AT - 1 (its last batch not acked).
    await db.query('DELETE FROM actor_snapshots');
    const first = createPersistentWeighters({ db, log });
    const a = new HybridEngine(models(), { spec }, { now, weightKeeper: first.factory });
    await run(a, bars.slice(0, KILL_AT), 10, () => first.flush());
    expect(first.store.stats.saved, 'a snapshot is saved with every batch').toBeGreaterThanOrEqual(KILL_AT / 10 - 6);

    // Second process: snapshot loaded, features warmed from history, the unacked batch redelivered.
    const second = createPersistentWeighters({ db, log });
    const b = new HybridEngine(models(), { spec }, { now, weightKeeper: second.factory });
    await second.preload([{ venue: 'v', symbol: 'S' }]);
    expect(second.store.stats.loaded, 'the snapshot is restored').toBe(1);
    // The predictor preloads engine.historyNeeded stored bars (more than this symbol has): its whole history.
    expect(b.historyNeeded).toBeGreaterThan(KILL_AT);
    b.warmUp('v', 'S', bars.slice(0, KILL_AT - REDELIVERED));
    await run(b, bars.slice(KILL_AT - REDELIVERED, KILL_AT), 10, () => second.flush());
    const resumed = b.status('v', 'S');
    expect(resumed.scored, 'the redelivered bars are not scored twice').toBe(atKill.scored);
    expect(resumed.weights, 'weights after the restart equal the weights before it').toEqual(atKill.weights);
    expect(resumed.weightPhase).toBe(atKill.weightPhase);

    const bOut = await run(b, bars.slice(KILL_AT), 10, () => second.flush());
    const end = b.status('v', 'S');
    const refEnd = reference.status('v', 'S');
    expect(end.scored, 'continuing bars: as many outcomes scored as without a restart').toBe(refEnd.scored);
    expect(end.weights, 'continuing bars: the same weights as without a restart').toEqual(refEnd.weights);
    const after = (o: EngineOutput[]) => o.filter((x) => x.prediction.ts >= bars[KILL_AT]!.ts);
    expect(after(bOut).length).toBe(bars.length - KILL_AT);
    expect(after(bOut).map(componentForecasts), 'every component (models and baselines) forecasts exactly what it would have without a restart').toEqual(after(refOut).map(componentForecasts));
    // The per-horizon family weights and calibrations are re-estimated from the warm-up history (the
    // models' past forecasts are not in it), so the blend and its confidence are close to, not equal to, an uninterrupted one.
    for (const x of after(bOut)) expect(Object.keys(x.prediction.horizons ?? {})).toEqual(['1m', '5m', '15m', '60m']);
  });

  it('a process that gets a symbol back resumes the weights the other process left, not its own stale ones', async () => {
    const LOST_AT = 60;
    const BACK_AT = 150;
    const reference = new HybridEngine(models(), { spec }, { now, weightKeeper: createConfidenceWeighters() });
    const refOut = await run(reference, bars, 10);
    await db.query('DELETE FROM actor_snapshots');

    // Process B predicts S, then loses it (e.g. stalled past its claim): its weighter stays in memory.
    const wb = createPersistentWeighters({ db, log });
    const b = new HybridEngine(models(), { spec }, { now, weightKeeper: wb.factory });
    await run(b, bars.slice(0, LOST_AT), 10, () => wb.flush());
    // Process A takes S over from B's snapshot and scores on.
    const wa = createPersistentWeighters({ db, log });
    const a = new HybridEngine(models(), { spec }, { now, weightKeeper: wa.factory });
    await wa.preload([{ venue: 'v', symbol: 'S' }]);
    a.warmUp('v', 'S', bars.slice(0, LOST_AT));
    await run(a, bars.slice(LOST_AT, BACK_AT), 10, () => wa.flush());

    // A dies; B gets S back (as the predictor's catch-up does): weights from A's snapshot, features from history.
    await wb.reload([{ venue: 'v', symbol: 'S' }]);
    b.renewWeights('v', 'S');
    b.warmUp('v', 'S', bars.slice(LOST_AT, BACK_AT));
    const bOut = await run(b, bars.slice(BACK_AT), 10, () => wb.flush());
    expect(b.status('v', 'S').scored, 'every outcome scored once, by one process or the other').toBe(reference.status('v', 'S').scored);
    expect(b.status('v', 'S').weights).toEqual(reference.status('v', 'S').weights);
    const from = (o: EngineOutput[]) => o.filter((x) => x.prediction.ts >= bars[BACK_AT]!.ts).map((x) => x.prediction.components.filter((c) => c.role === 'online' || c.role === 'pretrained').map((c) => c.value));
    expect(from(bOut), 'the models forecast as without the move').toEqual(from(refOut));
    const [row] = await readSnapshots(db, [weighterActorId('v', 'S')]);
    expect((row?.snapshot as { state: { scored: number } }).state.scored, 'the snapshot holds the resumed count').toBe(reference.status('v', 'S').scored);
  });

  // The predictor saves the weights, then stores the predictions; a process taking the symbol over catches up
  // from the bar after the last stored prediction. Killed between the two, the snapshot is one batch ahead.
  it('killed between saving the weights and storing the predictions: the takeover scores every outcome once', async () => {
    const T = 150;
    const reference = new HybridEngine(models(), { spec }, { now, weightKeeper: createConfidenceWeighters() });
    await run(reference, bars, 10);
    await db.query('DELETE FROM actor_snapshots');

    const wv = createPersistentWeighters({ db, log });
    const victim = new HybridEngine(models(), { spec }, { now, weightKeeper: wv.factory });
    await run(victim, bars.slice(0, T), 10, () => wv.flush()); // weights saved through bar T - 1 ...
    const lastStored = T - 10; // ... predictions stored only through the batch before

    const ws = createPersistentWeighters({ db, log });
    const survivor = new HybridEngine(models(), { spec }, { now, weightKeeper: ws.factory });
    await ws.preload([{ venue: 'v', symbol: 'S' }]);
    survivor.warmUp('v', 'S', bars.slice(0, lastStored));
    await run(survivor, bars.slice(lastStored), 10, () => ws.flush());
    expect(survivor.status('v', 'S').scored, 'no outcome missed, none scored twice').toBe(reference.status('v', 'S').scored);
    expect(survivor.status('v', 'S').weights).toEqual(reference.status('v', 'S').weights);
  });

  it('a snapshot of another definition version is ignored with a warning, counted, and the symbol starts from the prior', async () => {
    await upsertSnapshots(db, [
      { actorId: weighterActorId('v', 'OLD'), machineId: 'confidenceWeighter', definitionVersion: '1', snapshot: { state: { scored: 99 } } },
      { actorId: weighterActorId('v', 'BAD'), machineId: 'confidenceWeighter', definitionVersion: '2', snapshot: { state: 'not a state' } },
    ]);
    const w = createPersistentWeighters({ db, log });
    await w.preload([{ venue: 'v', symbol: 'OLD' }, { venue: 'v', symbol: 'BAD' }, { venue: 'v', symbol: 'NEW' }]);
    expect(w.store.stats, 'one version mismatch, one invalid snapshot, one missing').toMatchObject({ loaded: 0, versionMismatch: 1, invalid: 1, missing: 1 });
    const keeper = w.factory('v', 'OLD');
    expect(keeper.state.scored, 'an ignored snapshot leaves the prior').toBe(0);
    expect(keeper.phase).toBe('prior');
    keeper.score(0.001, { pretrained: { value: 0, pUp: 0.5 } }, bars[1]!.ts);
    await w.flush();
    const [row] = await readSnapshots(db, [weighterActorId('v', 'OLD')]);
    expect(row?.definitionVersion, 'the next save replaces the old version').toBe('2');
  });
});
