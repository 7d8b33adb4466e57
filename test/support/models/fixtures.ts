import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readBarsCsv, synthBars } from '../../../market/index.ts';
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

/** Where the seeded market series start: 2024-03-01, the month of the real BTCUSDT file. */
export const SYNTH_FIXTURE_START = Date.UTC(2024, 2, 1);

const synthCache = new Map<string, OhlcvBar[][]>();

/**
 * Realistic 1-minute bars from the seeded synthetic market (GARCH volatility, regimes,
 * a market factor): for tests that need bars with the shape of a market but assert no
 * fact of a particular file, so they run in every clone. `symbols` series share the
 * market factor (the context series of a model are another symbol of the same market).
 */
export function marketBars(count: number, from = 0, opts: { symbol?: number; symbols?: number; seed?: number } = {}): OhlcvBar[] {
  const symbols = opts.symbols ?? Math.max(1, (opts.symbol ?? 0) + 1);
  const seed = opts.seed ?? 2024;
  const key = `${seed}:${symbols}:${from + count}`;
  let series = synthCache.get(key);
  if (!series) {
    series = Array.from({ length: symbols }, () => [] as OhlcvBar[]);
    let i = 0;
    for (const b of synthBars({ symbols, minutes: from + count, seed, start: SYNTH_FIXTURE_START })) {
      series[i % symbols]?.push({ ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume });
      i++;
    }
    synthCache.set(key, series);
  }
  return (series[opts.symbol ?? 0] ?? []).slice(from, from + count);
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
