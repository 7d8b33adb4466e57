import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BarsFileError, parseBarsJsonl, readBars, readBarsCsv, type RowError } from '../../../market/bars-csv.ts';
import { BTCUSDT_CSV, DAILY_CSV, describeRealData } from '../../support/market/shared-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'bars-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const iso = (ts: number): string => new Date(ts).toISOString();
const byLine = (rejected: RowError[]) => rejected.map((e) => [e.line, e.field]);

describeRealData('readBarsCsv on the real BTCUSDT file', () => {
  it('loads all 30,900 rows, continuous minutes, in well under a second', async () => {
    const t0 = performance.now();
    const { bars, rejected } = await readBarsCsv(BTCUSDT_CSV);
    const ms = performance.now() - t0;
    expect(rejected, 'every row of the file is valid (README)').toEqual([]);
    expect(bars.length, 'README: 30,900 rows').toBe(30_900);
    expect(ms, `parse took ${ms.toFixed(0)} ms`).toBeLessThan(1_000);
    expect(iso(bars[0]?.ts ?? 0), 'first bar opens at the start of March 2024').toBe('2024-03-01T00:00:00.000Z');
    expect(iso(bars.at(-1)?.ts ?? 0), 'README: last bar 2024-03-22 10:59').toBe('2024-03-22T10:59:00.000Z');
    const gaps = bars.filter((b, i) => i > 0 && b.ts - (bars[i - 1]?.ts ?? 0) !== 60_000);
    expect(gaps.length, 'README: every minute present once, no gaps').toBe(0);
    expect(Math.min(...bars.map((b) => b.low)), 'README: price range low').toBe(59_005);
    expect(Math.max(...bars.map((b) => b.high)), 'README: price range high').toBe(73_777);
    expect(bars[0], 'first row parsed field by field').toEqual({
      ts: Date.UTC(2024, 2, 1),
      open: 61130.99,
      high: 61197.66,
      low: 61126,
      close: 61196,
      volume: 121.02208,
    });
  });
});

describeRealData('readBarsCsv on the daily long-format file', () => {
  it('counts per symbol: 505 NYSE days, FB 504 (missing 2020-10-23)', async () => {
    const { bars, rejected } = await readBarsCsv(DAILY_CSV);
    expect(rejected).toEqual([]);
    expect(bars.length, 'README: 3,534 rows').toBe(3_534);
    const counts = new Map<string, number>();
    for (const b of bars) counts.set(b.symbol ?? '(none)', (counts.get(b.symbol ?? '(none)') ?? 0) + 1);
    expect(Object.fromEntries(counts)).toEqual({ AAPL: 505, AMZN: 505, FB: 504, GOOGL: 505, NFLX: 505, TSLA: 505, '^GSPC': 505 });
    expect(bars.every((b) => b.ts % 86_400_000 === 0), 'date-only timestamps are midnight UTC').toBe(true);
  });

  it('the symbol option keeps one symbol', async () => {
    const { bars } = await readBarsCsv(DAILY_CSV, { symbol: 'FB' });
    expect(bars.length).toBe(504);
    expect(new Set(bars.map((b) => b.symbol))).toEqual(new Set(['FB']));
    expect(bars.some((b) => iso(b.ts).startsWith('2020-10-23')), 'FB has a real gap on 2020-10-23').toBe(false);
    expect(bars.some((b) => iso(b.ts).startsWith('2020-10-22')), 'the day before is there').toBe(true);
    const none = await readBarsCsv(DAILY_CSV, { symbol: 'NOPE' });
    expect(none, 'an unknown symbol gives no rows, not errors').toEqual({ bars: [], rejected: [] });
  });
});

describe('readBarsCsv formats and bad rows', () => {
  it('accepts any column order and case, extra columns, quotes, CRLF and every timestamp form', async () => {
    const path = file(
      'good.csv',
      [
        'Volume,note,CLOSE,Low,High,Open,TimeStamp,trades',
        '10.5,"a, quoted ""note""",101,99,102,100,2024-03-01T00:00:00Z,7',
        '0,"multi\nline",100,100,100,100,2024-03-01 00:01:00,',
        '1,x,100,99,101,100.5,1709251320000,3',
        '',
        '2,y,100,99,101,100,2019-01-02,0',
        '3,"z",100,99,101,100,2024-03-01T01:05:00+01:00,1',
        '',
      ].join('\r\n'),
    );
    const { bars, rejected } = await readBarsCsv(path);
    expect(rejected, 'all rows are valid').toEqual([]);
    expect(bars).toEqual([
      { ts: Date.UTC(2024, 2, 1, 0, 0), open: 100, high: 102, low: 99, close: 101, volume: 10.5, trades: 7 },
      { ts: Date.UTC(2024, 2, 1, 0, 1), open: 100, high: 100, low: 100, close: 100, volume: 0 },
      { ts: Date.UTC(2024, 2, 1, 0, 2), open: 100.5, high: 101, low: 99, close: 100, volume: 1, trades: 3 },
      { ts: Date.UTC(2019, 0, 2), open: 100, high: 101, low: 99, close: 100, volume: 2, trades: 0 },
      { ts: Date.UTC(2024, 2, 1, 0, 5), open: 100, high: 101, low: 99, close: 100, volume: 3, trades: 1 },
    ]);
  });

  it('rejects each kind of bad row with its line and field, and still loads the good rows', async () => {
    const rows = [
      'timestamp,open,high,low,close,volume,trades', // line 1
      '2024-03-01T00:00:00Z,100,101,99,100,1,1', // 2 good
      '2024-03-01T00:01:00Z,abc,101,99,100,1,1', // 3 open not a number
      '2024-03-01T00:02:00Z,100,101,99,100,,1', // 4 volume empty
      '2024-03-01T00:03:00Z,100,101,99,100,-1,1', // 5 volume negative
      '2024-03-01T00:04:00Z,0,101,99,100,1,1', // 6 open not > 0
      '2024-03-01T00:05:00Z,100,101,100.5,100,1,1', // 7 low above min(open, close)
      '2024-03-01T00:06:00Z,100,100.5,99,101,1,1', // 8 high below max(open, close)
      '2024-03-01T00:07:00Z,100,Infinity,99,100,1,1', // 9 not finite
      '1709251200,100,101,99,100,1,1', // 10 epoch seconds
      '2024-02-30T00:00:00Z,100,101,99,100,1,1', // 11 no such date
      '2024-03-01T00:08:00Z,100,101,99', // 12 too few fields
      '2024-03-01T00:00:00Z,100,101,99,100,1,1', // 13 duplicate of line 2
      '2024-03-01T00:09:00Z,100,101,99,100,1,1.5', // 14 trades not whole
      '2024-03-01T00:10:00Z,100,101,99,100,1,NaN', // 15 trades not a number
      'yesterday,100,101,99,100,1,1', // 16 not a timestamp
      '2024-03-01T00:11:00Z,100,101,99,100,1,1', // 17 good
      '2024-03-01T00:12:00Z,100,101,99,100,1,"1', // 18 unclosed quote (runs to the end)
    ];
    const path = file('bad.csv', rows.join('\n'));
    const { bars, rejected } = await readBarsCsv(path);
    expect(bars.map((b) => iso(b.ts)), 'the good rows still load').toEqual(['2024-03-01T00:00:00.000Z', '2024-03-01T00:11:00.000Z']);
    expect(byLine(rejected), 'one error per bad row, naming line and field').toEqual([
      [3, 'open'],
      [4, 'volume'],
      [5, 'volume'],
      [6, 'open'],
      [7, 'low'],
      [8, 'high'],
      [9, 'high'],
      [10, 'timestamp'],
      [11, 'timestamp'],
      [12, 'close'],
      [13, 'timestamp'],
      [14, 'trades'],
      [15, 'trades'],
      [16, 'timestamp'],
      [18, '(row)'],
    ]);
    expect(rejected.every((e) => e.file === path), 'every error names the file').toBe(true);
    const message = (line: number) => rejected.find((e) => e.line === line)?.message;
    expect(message(10), 'epoch seconds are called out').toMatch(/looks like epoch seconds/);
    expect(message(5)).toBe('must be >= 0 (got -1)');
    expect(message(7)).toBe('low 100.5 is above min(open, close) 100');
    expect(message(13)).toMatch(/duplicate timestamp .*\(first on line 2\)/);
  });

  it('wholeMinutes rejects bars that do not open on a minute', async () => {
    const path = file('seconds.csv', 'timestamp,open,high,low,close,volume\n2024-03-01T00:00:30Z,1,1,1,1,1\n2024-03-01T00:01:00Z,1,1,1,1,1\n');
    const loose = await readBarsCsv(path);
    expect(loose.bars.length, 'without the option both rows load').toBe(2);
    const strict = await readBarsCsv(path, { wholeMinutes: true });
    expect(strict.bars.length).toBe(1);
    expect(byLine(strict.rejected)).toEqual([[2, 'timestamp']]);
  });

  it('throws BarsFileError (exit code 3) for a file that cannot be used', async () => {
    const cases: [string, string, RegExp][] = [
      [file('no-volume.csv', 'timestamp,open,high,low,close\n2024-03-01,1,1,1,1\n'), 'missing_column', /no "volume" column/],
      [file('empty.csv', '\n\n'), 'empty', /empty/],
      [file('dup.csv', 'timestamp,open,high,low,close,volume,Open\n'), 'duplicate_column', /"open" twice/],
      [join(dir, 'absent.csv'), 'not_found', /file not found/],
    ];
    for (const [path, reason, message] of cases) {
      const err: unknown = await readBarsCsv(path).catch((e: unknown) => e);
      expect(err, `${path} must be rejected as a whole`).toBeInstanceOf(BarsFileError);
      const e = err as BarsFileError;
      expect(e.reason).toBe(reason);
      expect(e.exitCode, 'EXIT.input').toBe(3);
      expect(e.message).toMatch(message);
      expect(e.message.startsWith(path), 'the message names the file').toBe(true);
    }
    const missing = (await readBarsCsv(join(dir, 'no-volume.csv')).catch((e: unknown) => e)) as BarsFileError;
    expect(missing.column, 'the missing column is a field too').toBe('volume');
  });
});

describeRealData('parseBarsJsonl and readBars', () => {
  it('reads JSON lines with ts or timestamp, numeric strings, Bar messages, and rejects bad lines', async () => {
    const lines = [
      '{"ts":1709251200000,"open":1,"high":2,"low":0.5,"close":1.5,"volume":3}',
      '{"Timestamp":"2024-03-01T00:01:00Z","open":"1","high":"2","low":"0.5","close":"1.5","volume":"3","trades":4}',
      '{"venue":"x","symbol":"S","interval":"1m","ts":1709251320000,"open":1,"high":1,"low":1,"close":1,"volume":0,"source":"replay"}',
      'not json',
      '[1,2]',
      '{"ts":1709251380000,"open":1,"high":2,"low":0.5,"close":1.5}',
      '',
      '{"ts":1709251440,"open":1,"high":2,"low":0.5,"close":1.5,"volume":1}',
      '{"ts":1709251500000,"open":1,"high":0.9,"low":0.5,"close":1.5,"volume":1}',
    ];
    const path = file('bars.jsonl', lines.join('\n'));
    const { bars, rejected } = await parseBarsJsonl(path);
    expect(bars).toEqual([
      { ts: 1709251200000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3 },
      { ts: 1709251260000, open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, trades: 4 },
      { ts: 1709251320000, open: 1, high: 1, low: 1, close: 1, volume: 0, symbol: 'S' },
    ]);
    expect(byLine(rejected)).toEqual([
      [4, '(json)'],
      [5, '(json)'],
      [6, 'volume'],
      [8, 'ts'],
      [9, 'high'],
    ]);
    const viaExt = await readBars(file('bars.ndjson', lines.join('\n')));
    expect(viaExt.bars.length, '.ndjson is read as JSON lines').toBe(3);
  });

  it('readBars picks the reader by extension and refuses others', async () => {
    const csv = await readBars(BTCUSDT_CSV);
    expect(csv.bars.length).toBe(30_900);
    const err: unknown = await readBars(file('bars.txt', 'x')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BarsFileError);
    expect((err as BarsFileError).reason).toBe('unsupported_format');
  });
});
