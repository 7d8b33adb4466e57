import { checkBar, parseDecimal, PRICE_FIELDS, type FieldProblem } from './bar-checks.ts';
import { readBarsText } from './read-text.ts';
import { checkEpochMs, parseTimestamp } from './timestamp.ts';
import type { BarRow, BarsReadResult, ReadBarsOptions, RowError } from './types.ts';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON number, or a numeric string (some feeds quote prices), as a finite number. */
function numberField(obj: Record<string, unknown>, field: string): number | FieldProblem {
  const value = obj[field];
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const n = parseDecimal(value);
    if (n !== undefined) return n;
  }
  if (value === undefined || value === null) return { field, message: 'is missing' };
  return { field, message: `${JSON.stringify(value)} is not a finite number` };
}

function rowOf(obj: Record<string, unknown>, wholeMinutes: boolean): BarRow | FieldProblem {
  const rawTs = obj.timestamp ?? obj.ts;
  const tsField = obj.timestamp !== undefined ? 'timestamp' : 'ts';
  let time;
  if (typeof rawTs === 'number') time = checkEpochMs(rawTs);
  else if (typeof rawTs === 'string') time = parseTimestamp(rawTs);
  else return { field: 'timestamp', message: rawTs === undefined ? 'is missing (expected "timestamp" or "ts")' : 'must be a number or a string' };
  if (!time.ok) return { field: tsField, message: time.message };
  if (wholeMinutes && time.ts % 60_000 !== 0) return { field: tsField, message: `${JSON.stringify(rawTs)} is not on a whole minute` };
  const numbers: number[] = [];
  for (const field of [...PRICE_FIELDS, 'volume']) {
    const n = numberField(obj, field);
    if (typeof n !== 'number') return n;
    numbers.push(n);
  }
  const [open = 0, high = 0, low = 0, close = 0, volume = 0] = numbers;
  const bar: BarRow = { ts: time.ts, open, high, low, close, volume };
  if (obj.trades !== undefined && obj.trades !== null) {
    const trades = numberField(obj, 'trades');
    if (typeof trades !== 'number') return trades;
    bar.trades = trades;
  }
  if (obj.symbol !== undefined) {
    if (typeof obj.symbol !== 'string' || obj.symbol.trim() === '') return { field: 'symbol', message: 'must be a non-empty string' };
    bar.symbol = obj.symbol.trim();
  }
  return checkBar(bar) ?? bar;
}

/**
 * Reads a JSON-lines bars file: one object per line with `timestamp` (or `ts`),
 * `open`, `high`, `low`, `close`, `volume`, optional `trades` and `symbol`; keys are
 * case-insensitive and other keys are ignored (so Bar messages are valid lines).
 * Same rules and result as `readBarsCsv`; blank lines are skipped.
 */
export async function parseBarsJsonl(path: string, opts: ReadBarsOptions = {}): Promise<BarsReadResult> {
  const text = await readBarsText(path);
  const bars: BarRow[] = [];
  const rejected: RowError[] = [];
  const firstLineOf = new Map<string, number>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const source = (lines[i] ?? '').trim();
    if (source === '') continue;
    const line = i + 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(source);
    } catch (err) {
      rejected.push({ file: path, line, field: '(json)', message: `invalid JSON: ${(err as Error).message}` });
      continue;
    }
    if (!isRecord(parsed)) {
      rejected.push({ file: path, line, field: '(json)', message: 'line is not a JSON object' });
      continue;
    }
    const obj = Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k.toLowerCase(), v]));
    if (opts.symbol !== undefined && typeof obj.symbol === 'string' && obj.symbol.trim() !== opts.symbol) continue;
    const row = rowOf(obj, opts.wholeMinutes ?? false);
    if (!('ts' in row)) {
      rejected.push({ file: path, line, field: row.field, message: row.message });
      continue;
    }
    const key = `${row.symbol ?? ''}\u0000${row.ts}`;
    const seen = firstLineOf.get(key);
    if (seen !== undefined) {
      rejected.push({
        file: path,
        line,
        field: 'timestamp',
        message: `duplicate timestamp ${new Date(row.ts).toISOString()} (first on line ${seen}); the first row is kept`,
      });
      continue;
    }
    firstLineOf.set(key, line);
    bars.push(row);
  }
  return { bars, rejected };
}
