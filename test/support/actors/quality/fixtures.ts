import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeBarsCsv, type BarRow } from '../../../../market/index.ts';
import { upsertBars, withTransaction, type Db } from '../../../../sql/index.ts';
import type { Bar } from '../../../../streams/index.ts';

/**
 * A temporary history directory for the CSV provider (outside the project: the
 * shared data is linked, never copied into the repository).
 */
export class HistoryDir {
  private constructor(readonly dir: string) {}

  static async create(): Promise<HistoryDir> {
    return new HistoryDir(await mkdtemp(join(tmpdir(), 'quality-history-')));
  }

  /** `<dir>/<venue>/<symbol>.csv` -> an existing file. */
  async link(venue: string, symbol: string, file: string): Promise<void> {
    await mkdir(join(this.dir, venue), { recursive: true });
    await symlink(file, join(this.dir, venue, `${symbol}.csv`));
  }

  /** `<dir>/<venue>/<symbol>.csv` with exactly these bars. */
  async write(venue: string, symbol: string, bars: readonly BarRow[]): Promise<void> {
    await mkdir(join(this.dir, venue), { recursive: true });
    await writeBarsCsv(join(this.dir, venue, `${symbol}.csv`), bars.map((b) => ({ ...b, symbol })));
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Stores bars in bars_1m as the ingest path does (source `live`, outbox rows), in chunks. */
export async function storeLiveBars(db: Db, venue: string, symbol: string, bars: readonly BarRow[]): Promise<void> {
  for (let i = 0; i < bars.length; i += 5_000) {
    const chunk: Bar[] = bars.slice(i, i + 5_000).map((b) => ({
      venue,
      symbol,
      interval: '1m',
      ts: b.ts,
      open: b.open,
      high: b.high,
      low: b.low,
      close: b.close,
      volume: b.volume,
      source: 'live',
    }));
    await withTransaction(db, (client) => upsertBars(client, chunk));
  }
}
