import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkBar } from '../../../market/bar-checks.ts';
import { readBarsCsv } from '../../../market/bars-csv.ts';
import { REGIMES, SYNTH_DEFAULT_START, synthBars, synthBarStream, type SynthBar } from '../../../market/synth.ts';
import { BARS_CSV_HEADER, writeBarsCsv } from '../../../market/write-bars-csv.ts';

const dir = mkdtempSync(join(tmpdir(), 'synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const of = (bars: SynthBar[], symbol: string) => bars.filter((b) => b.symbol === symbol);
const logReturns = (bars: SynthBar[]) => bars.map((b) => Math.log(b.close / b.open));
function correlation(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let c = 0;
  let va = 0;
  let vb = 0;
  a.forEach((x, i) => {
    const y = b[i] ?? mb;
    c += (x - ma) * (y - mb);
    va += (x - ma) ** 2;
    vb += (y - mb) ** 2;
  });
  return c / Math.sqrt(va * vb);
}

describe('synthBars', () => {
  const bars = [...synthBars({ symbols: 3, minutes: 5_000, seed: 42 })];

  it('gives N x M valid bars, in time order, named SYN000.., opening at the previous close', () => {
    expect(bars.length).toBe(15_000);
    expect(bars.slice(0, 4).map((b) => b.symbol)).toEqual(['SYN000', 'SYN001', 'SYN002', 'SYN000']);
    expect(bars[0]?.ts, 'default start is fixed').toBe(SYNTH_DEFAULT_START);
    expect(bars.at(-1)?.ts).toBe(SYNTH_DEFAULT_START + 4_999 * 60_000);
    const invalid = bars.filter((b) => checkBar(b) !== undefined || !(b.low > 0) || !Number.isFinite(b.volume));
    expect(invalid.slice(0, 3), 'every bar satisfies the bar invariants').toEqual([]);
    expect(bars.every((b, i) => i === 0 || b.ts >= (bars[i - 1]?.ts ?? 0)), 'time order').toBe(true);
    for (const symbol of ['SYN000', 'SYN001', 'SYN002']) {
      const series = of(bars, symbol);
      const breaks = series.filter((b, i) => i > 0 && b.open !== series[i - 1]?.close).length;
      expect(breaks, `${symbol}: each bar opens at the previous close`).toBe(0);
    }
  });

  it('is deterministic per seed; a symbol does not depend on how many others run', () => {
    const again = [...synthBars({ symbols: 3, minutes: 5_000, seed: 42 })];
    expect(again, 'same seed, same bars').toEqual(bars);
    const other = [...synthBars({ symbols: 3, minutes: 50, seed: 43 })];
    const differ = other.filter((b, i) => b.close !== bars[i]?.close).length;
    expect(differ, 'another seed gives other prices').toBeGreaterThan(140);
    const wide = [...synthBars({ symbols: 5, minutes: 50, seed: 42 })];
    expect(of(wide, 'SYN001'), 'SYN001 is the same with 5 symbols as with 3').toEqual(of(bars, 'SYN001').slice(0, 50));
  });

  it('has regimes, volatility clusters, volume following volatility, and correlated symbols', () => {
    for (const symbol of ['SYN000', 'SYN001', 'SYN002']) {
      const series = of(bars, symbol);
      const r = logReturns(series);
      const sq = r.map((x) => x * x);
      const acf1 = correlation(sq.slice(1), sq.slice(0, -1));
      expect(acf1, `${symbol}: squared returns are autocorrelated (GARCH clusters), got ${acf1.toFixed(3)}`).toBeGreaterThan(0.1);
      const volCorr = correlation(r.map(Math.abs), series.map((b) => b.volume));
      expect(volCorr, `${symbol}: volume rises with |return|, got ${volCorr.toFixed(3)}`).toBeGreaterThan(0.2);
      const seen = new Set(series.map((b) => b.regime));
      expect(seen.size, `${symbol}: regimes switch over 5,000 minutes (saw ${[...seen].join(',')})`).toBeGreaterThanOrEqual(2);
      const prices = series.map((b) => b.close);
      const range = Math.max(...prices) / Math.min(...prices);
      expect(range, `${symbol}: prices move but stay sane`).toBeGreaterThan(1.01);
      expect(range).toBeLessThan(10);
    }
    const all = new Set(bars.map((b) => b.regime));
    expect([...all].sort(), 'all regimes occur across symbols').toEqual([...REGIMES].sort());
    const rho = correlation(logReturns(of(bars, 'SYN000')), logReturns(of(bars, 'SYN001')));
    expect(rho, `the market factor correlates symbols, got ${rho.toFixed(3)}`).toBeGreaterThan(0.03);
  });

  it('rejects impossible options', () => {
    expect(() => [...synthBars({ symbols: 0, minutes: 1, seed: 1 })]).toThrow(/symbols must be/);
    expect(() => [...synthBars({ symbols: 1, minutes: 1, seed: -1 })]).toThrow(/seed must be/);
    expect(() => [...synthBars({ symbols: 1, minutes: 1, seed: 1, start: 1_000 })]).toThrow(/whole minute/);
  });
});

describe('synthBarStream and writeBarsCsv', () => {
  it('the async stream yields the same bars and stops on abort', async () => {
    const opts = { symbols: 2, minutes: 600, seed: 9 };
    const streamed: SynthBar[] = [];
    for await (const b of synthBarStream(opts, { chunk: 100 })) streamed.push(b);
    expect(streamed).toEqual([...synthBars(opts)]);
    const controller = new AbortController();
    let n = 0;
    for await (const _ of synthBarStream(opts, { signal: controller.signal })) if (++n === 10) controller.abort();
    expect(n, 'no bar after the abort').toBe(10);
  });

  it('writes a bars CSV that reads back to the same bars', async () => {
    const opts = { symbols: 3, minutes: 200, seed: 5, start: Date.UTC(2025, 5, 1, 12, 0) };
    const path = join(dir, 'synth.csv');
    const rows = await writeBarsCsv(path, synthBarStream(opts));
    expect(rows).toBe(600);
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')[0]).toBe(BARS_CSV_HEADER);
    expect(text.split('\n')[1]?.startsWith('2025-06-01T12:00:00Z,'), 'ISO time without milliseconds').toBe(true);
    const { bars, rejected } = await readBarsCsv(path);
    expect(rejected, 'the generator writes only valid rows').toEqual([]);
    const expected = [...synthBars(opts)].map(({ regime: _regime, ...bar }) => bar);
    expect(bars, 'numbers survive the text round trip exactly').toEqual(expected);
  });

  it('fails cleanly: no half-written file, no temp file', async () => {
    await expect(writeBarsCsv(join(dir, 'missing-dir', 'x.csv'), synthBars({ symbols: 1, minutes: 3, seed: 1 }))).rejects.toThrow(
      /ENOENT/,
    );
    const failing = function* () {
      yield* synthBars({ symbols: 1, minutes: 2, seed: 1 });
      throw new Error('source failed');
    };
    const path = join(dir, 'partial.csv');
    await expect(writeBarsCsv(path, failing())).rejects.toThrow('source failed');
    expect(readdirSync(dir).filter((f) => f.startsWith('partial')), 'neither the target nor its temp file remains').toEqual([]);
  });
});
