/**
 * Bars files (contract: README "Bars files").
 *
 * CSV, UTF-8, comma-separated, LF or CRLF, simple RFC 4180 quoting (`"a,b"`, `""`
 * for a quote inside a quoted field). The first non-blank line is a header naming
 * at least these columns, case-insensitive and in any order:
 *
 * | column      | meaning                                                               |
 * |-------------|-----------------------------------------------------------------------|
 * | `timestamp` | the bar's OPEN time: ISO-8601 (`2024-03-01T00:00:00Z`, `2024-03-01 00:00:00` = UTC, a date `2019-01-02` = midnight UTC, offsets such as `+01:00` converted) or epoch milliseconds (`1709251200000`); epoch seconds are rejected |
 * | `open`, `high`, `low`, `close` | prices, finite decimals > 0                        |
 * | `volume`    | finite decimal >= 0                                                   |
 *
 * Optional: `trades` (whole number >= 0, empty = unknown) and `symbol` (long format:
 * many instruments in one file; select one with the `symbol` option). Any other
 * column (e.g. `adj_close`) is ignored.
 *
 * Every data row must satisfy `low <= min(open, close) <= max(open, close) <= high`
 * and have as many fields as the header. A timestamp seen twice for the same symbol
 * keeps the first row. A row breaking any rule is not loaded and is reported as a
 * `RowError` (file, 1-based line, field, message); the other rows still load, in
 * file order (no sorting). A file that is missing, unreadable, empty, or whose
 * header lacks a required column throws `BarsFileError` (CLI exit code 3).
 *
 * JSON lines (`.jsonl`, `.ndjson`): one object per line with the same fields, the
 * time as `timestamp` or `ts` (epoch ms number or ISO string), numbers as JSON
 * numbers or numeric strings; a Bar message of the `md.bar.1m` subjects is a valid
 * line. See `parseBarsJsonl`.
 */
import { extname } from 'node:path';
import { checkBar, parseDecimal, PRICE_FIELDS } from './bar-checks.ts';
import { parseBarsJsonl } from './bars-jsonl.ts';
import { csvRecords, splitCsvFields } from './csv-records.ts';
import { BarsFileError } from './errors.ts';
import { readBarsText } from './read-text.ts';
import { parseTimestamp } from './timestamp.ts';
import type { BarRow, BarsReadResult, ReadBarsOptions, RowError } from './types.ts';

export type { BarRow, BarsReadResult, ReadBarsOptions, RowError } from './types.ts';
export { BarsFileError } from './errors.ts';
export { parseBarsJsonl } from './bars-jsonl.ts';

/** Columns every bars CSV must have (lower case). */
export const REQUIRED_COLUMNS = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;
type Column = (typeof REQUIRED_COLUMNS)[number] | 'trades' | 'symbol';
const KNOWN_COLUMNS: readonly Column[] = [...REQUIRED_COLUMNS, 'trades', 'symbol'];

function headerIndex(file: string, header: string[]): Map<Column, number> {
  const index = new Map<Column, number>();
  header.forEach((name, i) => {
    const key = name.trim().toLowerCase();
    const column = KNOWN_COLUMNS.find((c) => c === key);
    if (column === undefined) return;
    if (index.has(column)) {
      throw new BarsFileError(file, 'duplicate_column', `header names column "${column}" twice`, { column });
    }
    index.set(column, i);
  });
  for (const column of REQUIRED_COLUMNS) {
    if (!index.has(column)) {
      throw new BarsFileError(
        file,
        'missing_column',
        `header has no "${column}" column (required: ${REQUIRED_COLUMNS.join(',')}; found: ${header.join(',')})`,
        { column },
      );
    }
  }
  return index;
}

/**
 * Reads a whole bars CSV (format above). Throws BarsFileError only for a file that
 * cannot be used at all; bad rows come back in `rejected`.
 */
export async function readBarsCsv(path: string, opts: ReadBarsOptions = {}): Promise<BarsReadResult> {
  // Decoded as UTF-8: invalid bytes, an encoded surrogate (ED A0 80) among them, become U+FFFD,
  // so no cell can hold a lone surrogate (a NUL fails the number and time checks; a symbol cell only selects rows).
  const text = await readBarsText(path);
  const records = csvRecords(text);
  const first = records.next();
  if (first.done) throw new BarsFileError(path, 'empty', 'file is empty (expected a header row)');
  const header = splitCsvFields(first.value.text);
  if (header === undefined) throw new BarsFileError(path, 'unreadable', 'header row has an unclosed quote');
  const index = headerIndex(path, header);
  const col = (c: Column): number => index.get(c) ?? -1;
  const iTs = col('timestamp');
  const iPrice = PRICE_FIELDS.map(col);
  const iVolume = col('volume');
  const iTrades = col('trades');
  const iSymbol = col('symbol');

  const bars: BarRow[] = [];
  const rejected: RowError[] = [];
  const firstLineOf = new Map<string, number>();
  for (const { line, text: record } of records) {
    const reject = (field: string, message: string): void => {
      rejected.push({ file: path, line, field, message });
    };
    const cells = splitCsvFields(record);
    if (cells === undefined) {
      reject('(row)', 'a quoted field is not closed');
      continue;
    }
    const symbol = iSymbol >= 0 ? cells[iSymbol]?.trim() : undefined;
    if (opts.symbol !== undefined && iSymbol >= 0 && symbol !== opts.symbol) continue;
    if (cells.length !== header.length) {
      reject(
        cells.length < header.length ? (header[cells.length] ?? '(row)') : '(row)',
        `row has ${cells.length} fields, the header has ${header.length}`,
      );
      continue;
    }
    if (symbol === '') {
      reject('symbol', 'is empty');
      continue;
    }
    const time = parseTimestamp(cells[iTs] ?? '');
    if (!time.ok) {
      reject('timestamp', time.message);
      continue;
    }
    if (opts.wholeMinutes && time.ts % 60_000 !== 0) {
      reject('timestamp', `${JSON.stringify(cells[iTs]?.trim())} is not on a whole minute`);
      continue;
    }
    const numbers: number[] = [];
    let bad = false;
    for (let k = 0; k < PRICE_FIELDS.length + 1; k++) {
      const field = PRICE_FIELDS[k] ?? 'volume';
      const cell = cells[iPrice[k] ?? iVolume] ?? '';
      const n = parseDecimal(cell);
      if (n === undefined) {
        reject(field, `${JSON.stringify(cell.trim())} is not a finite number`);
        bad = true;
        break;
      }
      numbers.push(n);
    }
    if (bad) continue;
    const [open = 0, high = 0, low = 0, close = 0, volume = 0] = numbers;
    const bar: BarRow = { ts: time.ts, open, high, low, close, volume };
    const tradesCell = iTrades >= 0 ? (cells[iTrades]?.trim() ?? '') : '';
    if (tradesCell !== '') {
      const trades = parseDecimal(tradesCell);
      if (trades === undefined) {
        reject('trades', `${JSON.stringify(tradesCell)} is not a finite number`);
        continue;
      }
      bar.trades = trades;
    }
    if (symbol !== undefined) bar.symbol = symbol;
    const problem = checkBar(bar);
    if (problem) {
      reject(problem.field, problem.message);
      continue;
    }
    const key = `${symbol ?? ''}\u0000${bar.ts}`;
    const seen = firstLineOf.get(key);
    if (seen !== undefined) {
      reject('timestamp', `duplicate timestamp ${new Date(bar.ts).toISOString()} (first on line ${seen}); the first row is kept`);
      continue;
    }
    firstLineOf.set(key, line);
    bars.push(bar);
  }
  return { bars, rejected };
}

/** Reads a bars file, choosing the format by extension: `.csv`, `.jsonl` or `.ndjson`. */
export async function readBars(path: string, opts: ReadBarsOptions = {}): Promise<BarsReadResult> {
  const ext = extname(path).toLowerCase();
  if (ext === '.csv') return readBarsCsv(path, opts);
  if (ext === '.jsonl' || ext === '.ndjson') return parseBarsJsonl(path, opts);
  throw new BarsFileError(
    path,
    'unsupported_format',
    `unsupported extension ${JSON.stringify(ext || '(none)')}: use .csv, .jsonl or .ndjson`,
  );
}
