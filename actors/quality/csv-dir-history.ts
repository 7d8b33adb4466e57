import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { readBarsCsv } from '../../market/index.ts';
import { HistoryUnavailableError, type HistoryProvider } from './history-provider.ts';
import type { HistoryBar } from './types.ts';

export type CsvDirHistoryOptions = {
  /** Directory holding `<venue>/<symbol>.csv` or `<symbol>.csv` bars files. */
  dir: string;
  /** Called once per file with the rows it rejected (bad rows are never used to fill). */
  onRejected?: (file: string, rejected: number) => void;
};

type Loaded = { mtimeMs: number; size: number; bars: HistoryBar[] };

/**
 * History from a directory of bars CSV files (the format of market/bars-csv.ts):
 * `<dir>/<venue>/<symbol>.csv` when present, else `<dir>/<symbol>.csv`. A missing
 * file means "no history" (empty result), not an error. Parsed files are cached
 * and reloaded when their size or mtime changes.
 */
export function createCsvDirHistory(opts: CsvDirHistoryOptions): HistoryProvider {
  const dir = resolve(opts.dir);
  const name = `csv:${dir}`;
  const cache = new Map<string, Loaded>();

  async function locate(venue: string, symbol: string): Promise<{ path: string; mtimeMs: number; size: number } | undefined> {
    for (const path of [join(dir, venue, `${symbol}.csv`), join(dir, `${symbol}.csv`)]) {
      try {
        const s = await stat(path);
        if (s.isFile()) return { path, mtimeMs: s.mtimeMs, size: s.size };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw new HistoryUnavailableError(name, `cannot stat ${path}`, { cause: err });
        }
      }
    }
    return undefined;
  }

  // A long-format file (with a `symbol` column) holds many symbols: keep only the asked one.
  async function load(file: { path: string; mtimeMs: number; size: number }, symbol: string): Promise<HistoryBar[]> {
    const key = `${file.path}\u0000${symbol}`;
    const cached = cache.get(key);
    if (cached && cached.mtimeMs === file.mtimeMs && cached.size === file.size) return cached.bars;
    let bars: HistoryBar[];
    try {
      const read = await readBarsCsv(file.path, { symbol });
      if (read.rejected.length > 0) opts.onRejected?.(file.path, read.rejected.length);
      bars = read.bars.slice().sort((a, b) => a.ts - b.ts);
    } catch (err) {
      throw new HistoryUnavailableError(name, `cannot read ${file.path}: ${(err as Error).message}`, { cause: err });
    }
    cache.set(key, { mtimeMs: file.mtimeMs, size: file.size, bars });
    return bars;
  }

  return {
    name,
    async fetchBars(venue, symbol, from, to) {
      const file = await locate(venue, symbol);
      if (!file) return [];
      const bars = await load(file, symbol);
      return bars.slice(lowerBound(bars, from), lowerBound(bars, to + 1));
    },
  };
}

/** First index whose ts >= t in bars sorted by ts. */
function lowerBound(bars: readonly HistoryBar[], t: number): number {
  let lo = 0;
  let hi = bars.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((bars[mid]?.ts ?? Infinity) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
