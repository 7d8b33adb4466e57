import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { weighterActorId } from '../../../../actors/prediction/confidence-weighter.effects.ts';
import { startPredictors, type PredictorsHandle } from '../../../../actors/prediction/predictor.ts';
import { barMessage } from '../../../../market/index.ts';
import { NaiveBaseline } from '../../../../models/index.ts';
import { StaticModelSource } from '../../../../actors/prediction/index.ts';
import { readSnapshots } from '../../../../sql/index.ts';
import { publishPipelined } from '../../../../streams/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { eventually } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const spec = { lookback: 12, horizon: 1, volWindow: 20, context: false };

/**
 * A process taking a symbol over catches up from the symbol's last stored
 * prediction, so the weighter snapshot must never be behind it: the predictor
 * saves the snapshots of a batch before it stores the batch's predictions.
 */
describe('the predictor saves weights before predictions', () => {
  let sys: TestSystem;
  let handle: PredictorsHandle | undefined;

  beforeAll(async () => {
    sys = await startTestSystem('pred_order');
  });
  afterAll(async () => {
    await handle?.stop();
    await sys?.dispose();
  });

  it('when storing the predictions fails, the snapshot of that batch is already saved', async () => {
    // Every prediction insert fails (as if the process died right before it).
    await sys.db.query('ALTER TABLE predictions ADD CONSTRAINT refuse_all CHECK (false) NOT VALID');
    const models = new StaticModelSource([{ role: 'pretrained', version: 'zero', regime: 'any', predictor: new NaiveBaseline('naive-zero', 12) }]);
    handle = startPredictors({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, models, spec, fineTune: false, quality: () => undefined, preloadBars: 0 });
    await handle.ready();
    const bars = marketBars(40, 1_000);
    await publishPipelined(jetstream(sys.nc), bars.map((b) => barMessage('v', 'ORDER', { ...b })));
    await eventually(async () => (await readSnapshots(sys.db, [weighterActorId('v', 'ORDER')])).length === 1, 20_000, 'the weighter snapshot');
    const { rows } = await sys.db.query<{ n: string }>('SELECT count(*) AS n FROM predictions');
    expect(Number(rows[0]?.n), 'no prediction could be stored').toBe(0);
  });
});
