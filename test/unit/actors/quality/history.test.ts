import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsvDirHistory, HistoryUnavailableError, type HistoryProvider } from '../../../../actors/quality/index.ts';
import { BTCUSDT_CSV, DAILY_CSV, describeRealData } from '../../../support/market/shared-data.ts';

let dir: string;
let provider: HistoryProvider;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'quality-csv-history-'));
  await mkdir(join(dir, 'binance'));
  await symlink(BTCUSDT_CSV, join(dir, 'binance', 'BTCUSDT.csv'));
  // A long-format file (symbol column) directly under the directory, under two names.
  await symlink(DAILY_CSV, join(dir, 'AAPL.csv'));
  await symlink(DAILY_CSV, join(dir, 'FB.csv'));
  await writeFile(join(dir, 'broken.csv'), ''); // no header: the file cannot be used
  await symlink(join(dir, 'missing-target.csv'), join(dir, 'dangling.csv'));
  provider = createCsvDirHistory({ dir });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describeRealData('CSV directory history of the real files', () => {
  it('reads <dir>/<venue>/<symbol>.csv, inclusive bounds, exact values', async () => {
    const from = Date.parse('2024-03-01T00:00:00Z');
    const bars = await provider.fetchBars('binance', 'BTCUSDT', from, from + 2 * 60_000);
    expect(bars).toEqual([
      { ts: from, open: 61130.99, high: 61197.66, low: 61126.0, close: 61196.0, volume: 121.02208 },
      { ts: from + 60_000, open: 61196.0, high: 61217.41, low: 61162.0, close: 61185.84, volume: 40.04518 },
      expect.objectContaining({ ts: from + 120_000 }),
    ]);
  });

  it('falls back to <dir>/<symbol>.csv and keeps only that symbol of a long-format file', async () => {
    const from = Date.parse('2020-10-21T00:00:00Z');
    const to = Date.parse('2020-10-27T00:00:00Z');
    const fb = await provider.fetchBars('nasdaq', 'FB', from, to);
    expect(fb.map((b) => new Date(b.ts).toISOString().slice(0, 10)), 'FB lacks 2020-10-23 in the file').toEqual([
      '2020-10-21', '2020-10-22', '2020-10-26', '2020-10-27',
    ]);
    expect(fb.every((b) => b.symbol === 'FB')).toBe(true);
    const aapl = await provider.fetchBars('nasdaq', 'AAPL', from, to);
    expect(aapl.length).toBe(5);
  });
});

// The links above are made whether or not their targets exist: these cases need no real data.
describe('CSV directory history without data', () => {
  it('a missing file is "no history"; an unusable one is a retryable HistoryUnavailableError', async () => {
    expect(await provider.fetchBars('binance', 'ETHUSDT', 0, Date.now())).toEqual([]);
    expect(await provider.fetchBars('x', 'dangling', 0, Date.now()), 'a dangling link is a missing file').toEqual([]);
    const err = await provider.fetchBars('x', 'broken', 0, Date.now()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HistoryUnavailableError);
    expect(err).toMatchObject({ name: 'HistoryUnavailableError', retryable: true, message: expect.stringMatching(/broken\.csv.*empty/) });
  });
});
