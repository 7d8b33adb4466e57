import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBarsCsv } from '../../../market/index.ts';
import type { OhlcvBar, TrainRunConfig } from '../../../models/index.ts';

import { BTCUSDT_CSV, DAILY_CSV } from '../market/shared-data.ts';

export { BTCUSDT_CSV, DAILY_CSV, sharedData } from '../market/shared-data.ts';
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let btc: OhlcvBar[] | undefined;

/** `count` consecutive BTCUSDT 1-minute bars starting at bar `from`. */
export async function btcBars(count: number, from = 0): Promise<OhlcvBar[]> {
  if (!btc) {
    const read = await readBarsCsv(BTCUSDT_CSV);
    if (read.rejected.length) throw new Error(`unexpected rejected rows in ${BTCUSDT_CSV}`);
    btc = read.bars;
  }
  return btc.slice(from, from + count);
}

export async function dailyBars(symbol: string): Promise<OhlcvBar[]> {
  const read = await readBarsCsv(DAILY_CSV, { symbol });
  return read.bars;
}

/** Writes bars as a bars CSV (the contract header), for CLI tests. */
export async function writeBarsCsv(path: string, bars: readonly OhlcvBar[], mutate?: (cells: string[], i: number) => void): Promise<void> {
  const lines = bars.map((b, i) => {
    const cells = [new Date(b.ts).toISOString(), String(b.open), String(b.high), String(b.low), String(b.close), String(b.volume)];
    mutate?.(cells, i);
    return cells.join(',');
  });
  await writeFile(path, `timestamp,open,high,low,close,volume\n${lines.join('\n')}\n`);
}

export async function tempDir(label: string): Promise<{ path: string; dispose: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `signals-models-${label}-`));
  return { path, dispose: () => rm(path, { recursive: true, force: true }) };
}

/** A small, fast training configuration (tiny MLP, few epochs). */
export function tinyConfig(artifactsDir: string, overrides: Partial<TrainRunConfig> = {}): TrainRunConfig {
  return {
    runId: 'tiny',
    kind: 'mlp',
    lookback: 12,
    horizon: 1,
    volWindow: 20,
    context: false,
    epochs: 3,
    batchSize: 64,
    learningRate: 0.002,
    hiddenUnits: [16],
    dropout: 0.1,
    seed: 7,
    patience: 3,
    split: { train: 0.7, val: 0.15 },
    artifactsDir,
    ...overrides,
  };
}
