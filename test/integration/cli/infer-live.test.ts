import { spawn } from 'node:child_process';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPredictor, predictSeries, selectBackend, writeArtifactDir, unpackArtifact, type OhlcvBar } from '../../../models/index.ts';
import { ensureTopology, msgIds, publishJson, subjects, type Bar } from '../../../streams/index.ts';
import { storeBars, trainTinyModels } from '../../support/actors/lifecycle/fixtures.ts';
import { tempDir } from '../../support/models/fixtures.ts';
import { startTestSystem, type TestSystem } from '../../helpers/system.ts';

describe('signals infer --live', () => {
  let sys: TestSystem;
  let tiny: Awaited<ReturnType<typeof trainTinyModels>>;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    sys = await startTestSystem('infer_live');
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
    tiny = await trainTinyModels(1, 'infer-live');
    dir = await tempDir('infer-live');
  }, 120_000);
  afterAll(async () => {
    await tiny?.dispose();
    await dir?.dispose();
    await sys?.dispose();
  });

  it('warms up from bars_1m and predicts after each new bar on md.bar.1m, as the batch path does', async () => {
    const model = tiny.models[0]!;
    await writeArtifactDir(dir.path, unpackArtifact(model.packed.bytes, model.packed.sha256));
    const bars: OhlcvBar[] = model.bars.slice(0, 80);
    const history = bars.slice(0, 77);
    const live = bars.slice(77);
    await storeBars(sys, 'lv', 'BTC', history);

    const child = spawn(process.execPath, ['bin/signals.js', 'infer', '--model', dir.path, '--live', '--venue', 'lv', '--symbol', 'BTC', '--count', '3'], {
      env: { ...process.env, NATS_URL: sys.settings.NATS_URL, DATABASE_URL: sys.settings.DATABASE_URL, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    // Publish the live bars once the command is listening (header printed), a bit apart.
    for (let i = 0; i < 200 && !stdout.includes('ts,value,pUp'); i++) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500));
    const js = jetstream(sys.nc);
    for (const b of live) {
      const bar: Bar = { venue: 'lv', symbol: 'BTC', interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'live' };
      await publishJson(js, { subject: subjects.bar1m('lv', 'BTC'), payload: bar, msgId: msgIds.bar('lv', 'BTC', b.ts) });
    }
    expect(await exited, stderr).toBe(0);
    const lines = stdout.trim().split('\n').slice(1).map((l) => l.split(',').map(Number));
    expect(lines.map((l) => l[0]), 'one prediction per live bar').toEqual(live.map((b) => b.ts));

    await selectBackend({ force: 'wasm' });
    const predictor = await loadPredictor({ dir: dir.path });
    try {
      const batch = predictSeries(predictor, bars).slice(-3);
      expect(lines.map((l) => [l[0], l[1], l[2]]), 'live path = batch path on the same bars').toEqual(batch.map((f) => [f.ts, f.value, f.pUp]));
    } finally {
      predictor.dispose();
    }
  }, 120_000);
});
