import { beforeAll, describe, expect, it } from 'vitest';
import { readBarsCsv, type BarRow } from '../../../../market/index.ts';
import {
  checkWindow,
  DEFAULT_CHECK_CONFIG,
  emptyCheckState,
  robustStats,
  type CheckBar,
  type CheckState,
  type Finding,
  type TickAggregate,
} from '../../../../actors/quality/index.ts';
import { BTCUSDT_CSV, describeRealData } from '../../../support/market/shared-data.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

const WINDOW = 15;

/** Runs the checks over a series in windows of 15 bars, as the consistency actor does. */
function runChecks(bars: readonly CheckBar[], ticks?: ReadonlyMap<number, TickAggregate>): Finding[] {
  let state: CheckState = emptyCheckState();
  const findings: Finding[] = [];
  for (let i = 0; i < bars.length; i += WINDOW) {
    const r = checkWindow(bars.slice(i, i + WINDOW), state, DEFAULT_CHECK_CONFIG, ticks);
    state = r.state;
    findings.push(...r.findings);
  }
  return findings;
}

const kinds = (fs: readonly Finding[]) => [...new Set(fs.map((f) => f.kind))].sort();
const key = (f: Finding) => `${f.kind}@${f.ts}`;

let baseline: Finding[];
/** Findings of a corrupted series that the clean series does not have. */
function introduced(bars: readonly CheckBar[]): Array<[string, number]> {
  const before = new Set(baseline.map(key));
  return runChecks(bars)
    .filter((f) => !before.has(key(f)))
    .map((f) => [f.kind, f.ts]);
}

/** Two days of the seeded market: the clean series every corruption below is made from. */
const slice: CheckBar[] = marketBars(2 * 1_440, 0);
beforeAll(() => {
  baseline = runChecks(slice);
});

describe('robust statistics', () => {
  it('median and MAD match a direct computation', () => {
    const xs = [5, 1, 9, 3, 3, 7, 100, -4, 2].sort((a, b) => a - b);
    // median 3; |x - 3| = 2,2,6,0,0,4,97,7,1 -> sorted 0,0,1,2,2,4,6,7,97 -> MAD 2
    expect(robustStats(xs)).toEqual({ median: 3, scale: 1.4826 * 2 });
    expect(robustStats([1, 2, 3, 4]).median).toBe(2.5);
    // Against a naive sort-based MAD on pseudo-random samples of odd and even length.
    let seed = 7;
    const rand = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648) - 0.5;
    for (const n of [1, 2, 3, 10, 11, 240, 241]) {
      const sample = Array.from({ length: n }, rand).sort((a, b) => a - b);
      const med = (v: number[]) => (v.length % 2 ? (v[v.length >> 1] ?? 0) : ((v[v.length / 2 - 1] ?? 0) + (v[v.length / 2] ?? 0)) / 2);
      const m = med(sample);
      const mad = med(sample.map((x) => Math.abs(x - m)).sort((a, b) => a - b));
      const got = robustStats(sample);
      expect(got.median, `median of ${n}`).toBe(m);
      expect(got.scale, `MAD of ${n}`).toBeCloseTo(1.4826 * mad, 12);
    }
  });
});

describe('consistency checks on seeded market minutes', () => {
  it('the clean series has no finding but genuine large moves (the baseline the corruptions are compared with)', () => {
    expect(kinds(baseline).filter((k) => k !== 'price_jump')).toEqual([]);
    expect(baseline.length, 'two days: a handful of large moves at most').toBeLessThan(6);
  });

  it('a 20 % spike is a price_jump at the spike (and at the way back)', () => {
    const i = 600;
    const bars = slice.map((b, k) => (k === i ? { ...b, open: b.open * 1.2, high: b.high * 1.2, low: b.low * 1.2, close: b.close * 1.2 } : b));
    expect(introduced(bars), 'spike up at i, back down at i+1').toEqual([
      ['price_jump', slice[i]?.ts],
      ['price_jump', slice[i + 1]?.ts],
    ]);
  });

  it('swapped high and low is an ohlc finding', () => {
    const i = 321;
    const bars = slice.map((b, k) => (k === i ? { ...b, high: b.low, low: b.high } : b));
    expect(introduced(bars)).toEqual([['ohlc', slice[i]?.ts]]);
    expect(runChecks(bars).find((f) => f.kind === 'ohlc')?.detail).toMatch(/low .* > high/);
  });

  it('a second bar for the same minute with other values is a duplicate; an identical redelivery is not', () => {
    const i = 444;
    const orig = slice[i];
    if (!orig) throw new Error('slice too short');
    const other = { ...orig, close: orig.close + 1, high: Math.max(orig.high, orig.close + 1) };
    const bars = [...slice.slice(0, i + 1), other, orig, ...slice.slice(i + 1)];
    expect(introduced(bars)).toEqual([['duplicate', orig.ts]]);
    const corrected = [...slice.slice(0, i + 1), { ...other, revision: 1 }, ...slice.slice(i + 1)];
    expect(introduced(corrected), 'a higher revision is a correction, not a duplicate').toEqual([]);
  });

  it('a bar arriving after a newer one is out_of_order (backfilled bars are exempt)', () => {
    const i = 700;
    const swapped: CheckBar[] = [...slice];
    const a = swapped[i];
    const b = swapped[i + 1];
    if (!a || !b) throw new Error('slice too short');
    swapped[i] = b;
    swapped[i + 1] = a;
    expect(introduced(swapped)).toEqual([['out_of_order', a.ts]]);
    swapped[i + 1] = { ...a, source: 'backfill' };
    expect(introduced(swapped)).toEqual([]);
  });

  it('a price frozen for 30 minutes is a flat finding when the 30th identical bar arrives', () => {
    const i = 900;
    const p = slice[i - 1]?.close ?? 0;
    const bars = slice.map((b, k) => (k >= i && k < i + 30 ? { ...b, open: p, high: p, low: p, close: p, volume: 0 } : b));
    const added = introduced(bars);
    expect(added.filter(([k]) => k === 'flat').map(([, ts]) => ts), 'reported once, at the 30th frozen bar').toEqual([slice[i + 29]?.ts]);
    expect([...new Set(added.map(([k]) => k))].filter((k) => k !== 'flat' && k !== 'price_jump'), 'nothing else but the jump back').toEqual([]);
    const shorter = slice.map((b, k) => (k >= i && k < i + 29 ? { ...b, open: p, high: p, low: p, close: p, volume: 0 } : b));
    expect(runChecks(shorter).filter((f) => f.kind === 'flat'), '29 identical bars are below the limit').toEqual([]);
  });

  it('a bar built from ticks in arrival order instead of event time disagrees with its ticks', () => {
    // Ticks of one minute, received out of order: the earliest trade arrives last.
    const minute = slice[100]?.ts ?? 0;
    const received = [
      { ts: minute + 20_000, price: 101, size: 1 },
      { ts: minute + 40_000, price: 103, size: 1 },
      { ts: minute + 50_000, price: 102, size: 1 },
      { ts: minute + 1_000, price: 100, size: 2 },
    ];
    const byTime = [...received].sort((a, b) => a.ts - b.ts);
    const agg: TickAggregate = {
      ts: minute,
      open: byTime[0]?.price ?? 0,
      high: 103,
      low: 100,
      close: byTime.at(-1)?.price ?? 0,
      volume: 5,
      trades: 4,
    };
    const arrivalBar: CheckBar = { ts: minute, open: 101, high: 103, low: 100, close: 100, volume: 5, trades: 4, source: 'live' };
    const { findings } = checkWindow([arrivalBar], emptyCheckState(), DEFAULT_CHECK_CONFIG, new Map([[minute, agg]]));
    expect(findings.map((f) => f.kind)).toEqual(['tick_mismatch']);
    expect(findings[0]?.detail).toBe('open 101 vs ticks 100; close 100 vs ticks 102');
    const good: CheckBar = { ...arrivalBar, open: 100, close: 102 };
    expect(checkWindow([good], emptyCheckState(), DEFAULT_CHECK_CONFIG, new Map([[minute, agg]])).findings).toEqual([]);
  });

  it('negative volume is a volume finding', () => {
    const b = slice[3];
    if (!b) throw new Error('slice too short');
    expect(checkWindow([{ ...b, volume: -1 }], emptyCheckState()).findings.map((f) => f.kind)).toEqual(['volume']);
  });
});

describeRealData('consistency checks on the real BTCUSDT file', () => {
  let all: BarRow[];
  beforeAll(async () => {
    all = (await readBarsCsv(BTCUSDT_CSV)).bars;
  });

  it('two real days have only genuine price jumps', () => {
    const start = all.findIndex((b) => b.ts === Date.parse('2024-03-11T00:00:00Z'));
    const findings = runChecks(all.slice(start, start + 2 * 1_440));
    expect(kinds(findings).filter((k) => k !== 'price_jump')).toEqual([]);
    expect(findings.length, 'real two days: a handful of genuine large moves at most').toBeLessThan(6);
  });

  it('a clean run over the whole file: false alarms per 1,000 bars stay low and are only price jumps', () => {
    const findings = runChecks(all);
    const perThousand = (findings.length / all.length) * 1_000;
    console.log(`clean-run false alarms: ${findings.length} findings over ${all.length} bars = ${perThousand.toFixed(3)} per 1,000 bars (${kinds(findings).join(', ') || 'none'})`);
    expect(kinds(findings).filter((k) => k !== 'price_jump'), 'real data has no structural faults').toEqual([]);
    expect(perThousand, 'jumpK must keep real-market jumps rare').toBeLessThan(2);
  });
});
