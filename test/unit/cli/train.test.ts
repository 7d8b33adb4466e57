import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { trainCommand, trainConfigFromArgv } from '../../../cli/commands/train.ts';
import { UsageError } from '../../../cli/errors.ts';
import { loadModelDir, selectBackend } from '../../../models/index.ts';
import { marketBars, tempDir, writeBarsCsv } from '../../support/models/fixtures.ts';

let dir: { path: string; dispose: () => Promise<void> };

beforeAll(async () => {
  await selectBackend({ force: 'wasm' });
  dir = await tempDir('cli-train');
});
afterAll(async () => {
  await dir.dispose();
});

describe('signals train: horizon and layout flags', () => {
  const argv = ['--run-id', 'r', '--csv', 'x.csv'];

  it('leaves a plain command line exactly as before (no horizons, full features)', () => {
    const c = trainConfigFromArgv(argv, 'artifacts');
    expect('horizons' in c || 'features' in c, 'old runs record the same config').toBe(false);
    expect(c.horizon).toBe(1);
  });

  it('reads --horizons (sorted, duplicates dropped) and --features univariate', () => {
    const c = trainConfigFromArgv([...argv, '--horizons', '60,5,1,15,5', '--features', 'univariate', '--horizon', '5'], 'artifacts');
    expect(c.horizons).toEqual([1, 5, 15, 60]);
    expect(c.features).toBe('univariate');
    expect(c.horizon).toBe(5);
    expect('features' in trainConfigFromArgv([...argv, '--features', 'full'], 'a'), 'full is the default, not recorded').toBe(false);
  });

  it('refuses bad horizons, an unknown layout and a context series with univariate features', () => {
    expect(() => trainConfigFromArgv([...argv, '--horizons', '1,0'], 'a')).toThrow(UsageError);
    expect(() => trainConfigFromArgv([...argv, '--horizons', '5m'], 'a')).toThrow(/--horizons must be comma-separated integers >= 1/);
    expect(() => trainConfigFromArgv([...argv, '--features', 'ohlc'], 'a')).toThrow(/--features must be full or univariate/);
    expect(() => trainConfigFromArgv([...argv, '--features', 'univariate', '--context-csv', 'c.csv'], 'a')).toThrow(/takes no --context-csv/);
  });

  it('trains a univariate multi-step model with horizon heads from a CSV and prints the horizon metrics', async () => {
    const csv = join(dir.path, 'bars.csv');
    await writeBarsCsv(csv, marketBars(900, 4_000));
    const artifacts = join(dir.path, 'artifacts');
    const out: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    vi.stubEnv('TFJS_BACKEND', 'wasm');
    vi.stubEnv('LOG_LEVEL', 'silent');
    let code: number;
    try {
      code = await trainCommand.run([
        '--run-id', 'uni-hz', '--csv', csv, '--model', 'mlp', '--features', 'univariate', '--horizon', '5', '--horizons', '1,5,15',
        '--lookback', '12', '--hidden-units', '8', '--epochs', '2', '--batch-size', '64', '--artifacts-dir', artifacts,
      ]);
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
      vi.unstubAllEnvs();
    }
    expect(code).toBe(0);
    const text = out.join('');
    expect(text).toMatch(/horizon 15m \(val \d+\): QLIKE -?\d/);
    const loaded = await loadModelDir(join(artifacts, 'checkpoints/uni-hz/best'));
    try {
      expect(loaded.model.inputs[0]?.shape, 'X [N, lookback, 1]').toEqual([null, 12, 1]);
      expect(loaded.model.outputs.map((o) => o.shape[1]), 'value [N, 5], pUp, then three heads of three horizons').toEqual([5, 1, 3, 3, 3]);
    } finally {
      loaded.model.dispose();
    }
    const metrics = JSON.parse(await readFile(join(artifacts, 'metrics/uni-hz.json'), 'utf8')) as { config: { features: string; horizons: number[] } };
    expect(metrics.config).toMatchObject({ features: 'univariate', horizons: [1, 5, 15] });
  });
});
