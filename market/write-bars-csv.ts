import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { BarRow } from './types.ts';

/** The header written by `writeBarsCsv` (a bars file as read by `readBarsCsv`). */
export const BARS_CSV_HEADER = 'timestamp,open,high,low,close,volume,symbol';

/** ISO-8601 UTC, without milliseconds when they are zero: `2024-03-01T00:00:00Z`. */
export function isoTimestamp(ts: number): string {
  const iso = new Date(ts).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** One CSV line of a bar: ISO-8601 UTC open time, numbers in their shortest exact form. */
export function barCsvLine(bar: BarRow): string {
  return `${isoTimestamp(bar.ts)},${bar.open},${bar.high},${bar.low},${bar.close},${bar.volume},${bar.symbol ?? ''}`;
}

/**
 * Writes bars as a bars CSV (header `timestamp,open,high,low,close,volume,symbol`),
 * streaming with backpressure, to a temp file renamed into place at the end: a
 * reader never sees a half-written file. Resolves to the number of rows written.
 */
export async function writeBarsCsv(path: string, bars: Iterable<BarRow> | AsyncIterable<BarRow>): Promise<number> {
  const temp = `${path}.${process.pid}.tmp`;
  const out = createWriteStream(temp, { encoding: 'utf8' });
  let rows = 0;
  try {
    const failed = once(out, 'error').then(([err]: unknown[]) => {
      throw err;
    });
    failed.catch(() => undefined);
    let chunk = `${BARS_CSV_HEADER}\n`;
    for await (const bar of bars) {
      chunk += `${barCsvLine(bar)}\n`;
      rows++;
      if (chunk.length >= 65_536) {
        if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
        chunk = '';
      }
    }
    out.end(chunk);
    await Promise.race([once(out, 'finish'), failed]);
    await rename(temp, path);
    return rows;
  } catch (err) {
    // Wait for the stream to close: its (asynchronous) open may otherwise create the
    // temp file after we removed it.
    const closed = out.closed ? Promise.resolve() : once(out, 'close');
    out.destroy();
    await closed.catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
}
