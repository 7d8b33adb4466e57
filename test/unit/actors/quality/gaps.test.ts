import { beforeAll, describe, expect, it } from 'vitest';
import { readBarsCsv, type BarRow } from '../../../../market/index.ts';
import { checkSilence, createCalendar, findTimeGaps, observeBar, type DetectorState, type Gap, type GapScope } from '../../../../actors/quality/index.ts';
import { BTCUSDT_CSV, describeRealData } from '../../../support/market/shared-data.ts';
import { carve, expectedGap, standardCarves } from '../../../support/actors/quality/carve.ts';
import { marketBars } from '../../../support/models/fixtures.ts';

const MIN = 60_000;
const scope: GapScope = { venue: 'binance', symbol: 'BTCUSDT', calendar: createCalendar('always'), interval: '1m' };
const range = (g: Gap) => ({ from: new Date(g.from).toISOString(), to: new Date(g.to).toISOString(), bars: g.bars, kind: g.kind });

/** Three days of the seeded market from 2024-03-01 00:00 UTC: the complete series holes are carved from. */
const all = marketBars(3 * 1_440, 0);

describeRealData('time gaps in the real BTCUSDT file', () => {
  let file: BarRow[];
  beforeAll(async () => {
    file = (await readBarsCsv(BTCUSDT_CSV)).bars;
  });

  it('finds no gap in the whole file (continuous by its README)', () => {
    expect(file.length).toBe(30_900);
    const first = file[0]?.ts ?? 0;
    const last = file.at(-1)?.ts ?? 0;
    expect(findTimeGaps(file.map((b) => b.ts), scope, { from: first, to: last })).toEqual([]);
  });
});

describe('time gaps on the always calendar', () => {
  it('finds each carved hole exactly: single minutes, 90 minutes, across midnight, window start and end', () => {
    const slice = all.slice(0, 3 * 1_440); // three days
    const carves = standardCarves(slice);
    const kept = carve(slice, carves);
    const window = { from: slice[0]?.ts ?? 0, to: slice.at(-1)?.ts ?? 0 };
    const gaps = findTimeGaps(kept.map((b) => b.ts), scope, window);
    const expected = carves.map((c) => ({ ...range({ ...expectedGap(slice, c), venue: '', symbol: '', kind: 'time' }) }));
    expect(gaps.map(range), `carves: ${carves.map((c) => c.name).join(', ')}`).toEqual(expected);
    const midnight = gaps.find((g) => g.bars === 60);
    expect(midnight && new Date(midnight.from).getUTCDate() !== new Date(midnight.to).getUTCDate(), 'one gap spans a UTC day boundary').toBe(true);
  });

  it('without a window, holes at the edges are not knowable; inner ones still are', () => {
    const slice = all.slice(0, 2 * 1_440);
    const carves = standardCarves(slice);
    const gaps = findTimeGaps(carve(slice, carves).map((b) => b.ts), scope);
    expect(gaps.length, 'all carves but the two at the edges').toBe(carves.length - 2);
  });

  it('an unsorted, duplicated input gives the same gaps', () => {
    const slice = all.slice(0, 600);
    const times = carve(slice, [{ name: 'x', start: 100, end: 103 }]).map((b) => b.ts);
    const shuffled = [...times].reverse().concat(times.slice(0, 50));
    expect(findTimeGaps(shuffled, scope).map(range)).toEqual(findTimeGaps(times, scope).map(range));
  });
});

describe('incremental detection (what the backfill actor runs per bar)', () => {
  it('reports each inner carved hole once, ignores late and duplicate bars', () => {
    const slice = all.slice(0, 2 * 1_440);
    const carves = standardCarves(slice);
    const kept = carve(slice, carves);
    let state: DetectorState = {};
    const gaps: Gap[] = [];
    kept.forEach((b, i) => {
      const seen = observeBar(state, { ts: b.ts }, scope);
      state = seen.state;
      if (seen.gap) gaps.push(seen.gap);
      if (i % 97 === 0 && i > 0) {
        const late = kept[i - 5];
        if (late) expect(observeBar(state, { ts: late.ts }, scope).gap, 'a late bar opens no gap').toBeUndefined();
      }
    });
    const inner = carves.filter((c) => c.start > 0 && c.end < slice.length);
    expect(gaps.map(range)).toEqual(inner.map((c) => range({ ...expectedGap(slice, c), venue: '', symbol: '', kind: 'time' })));
  });

  it('a sequence jump with missing bar times is a `sequence` gap; without missing times only lost sequences', () => {
    const t0 = all[0]?.ts ?? 0;
    let s: DetectorState = {};
    s = observeBar(s, { ts: t0, seq: 10 }, scope).state;
    s = observeBar(s, { ts: t0 + MIN, seq: 11 }, scope).state;
    const jump = observeBar(s, { ts: t0 + 5 * MIN, seq: 15 }, scope);
    expect(jump.gap && range(jump.gap)).toEqual({ from: new Date(t0 + 2 * MIN).toISOString(), to: new Date(t0 + 4 * MIN).toISOString(), bars: 3, kind: 'sequence' });
    const redelivered = observeBar(jump.state, { ts: t0 + 5 * MIN, seq: 15 }, scope);
    expect(redelivered.gap, 'a redelivery is not a gap').toBeUndefined();
    const lost = observeBar(jump.state, { ts: t0 + 6 * MIN, seq: 18 }, scope);
    expect(lost.gap, 'consecutive bar times: nothing is missing').toBeUndefined();
    expect(lost.lostSequences).toEqual({ from: 16, to: 17 });
  });

  it('a silent feed becomes a `silence` gap of the overdue bars, reported once', () => {
    const t0 = Date.parse('2024-03-05T10:00:00Z');
    const s: DetectorState = { lastTs: t0 };
    const timeout = 5 * MIN;
    expect(checkSilence(s, t0 + MIN + timeout, timeout, scope).gap, 'the next bar is not overdue yet').toBeUndefined();
    const quiet = checkSilence(s, t0 + 9 * MIN + timeout + 30_000, timeout, scope);
    expect(quiet.gap && range(quiet.gap), 'bars t0+1 .. t0+8 closed more than 5 minutes ago').toEqual({
      from: new Date(t0 + MIN).toISOString(),
      to: new Date(t0 + 8 * MIN).toISOString(),
      bars: 8,
      kind: 'silence',
    });
    expect(checkSilence(quiet.state, t0 + 9 * MIN + timeout + 40_000, timeout, scope).gap, 'not reported twice').toBeUndefined();
    const resumed = observeBar(quiet.state, { ts: t0 + 12 * MIN }, scope);
    expect(resumed.gap && range(resumed.gap), 'the time gap starts after the silence gap').toEqual({
      from: new Date(t0 + 9 * MIN).toISOString(),
      to: new Date(t0 + 11 * MIN).toISOString(),
      bars: 3,
      kind: 'time',
    });
  });

  it('on the nyse calendar, nights and weekends are not gaps and not silence', () => {
    const nyse: GapScope = { ...scope, calendar: createCalendar('nyse') };
    const fridayLast = Date.parse('2024-03-08T20:59:00Z');
    const mondayFirst = Date.parse('2024-03-11T13:30:00Z');
    expect(observeBar({ lastTs: fridayLast }, { ts: mondayFirst }, nyse).gap).toBeUndefined();
    expect(checkSilence({ lastTs: fridayLast }, Date.parse('2024-03-10T12:00:00Z'), 5 * MIN, nyse).gap).toBeUndefined();
    const mondayMissing = observeBar({ lastTs: fridayLast }, { ts: mondayFirst + 3 * MIN }, nyse);
    expect(mondayMissing.gap && range(mondayMissing.gap), 'the first three Monday minutes are missing').toEqual({
      from: '2024-03-11T13:30:00.000Z',
      to: '2024-03-11T13:32:00.000Z',
      bars: 3,
      kind: 'time',
    });
  });
});
