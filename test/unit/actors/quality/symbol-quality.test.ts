import { describe, expect, it } from 'vitest';
import type { BarsClosedEvent, FeedBar } from '../../../../actors/quality/index.ts';
import type { QualitySettings } from '../../../../actors/quality/quality-supervisor.ts';
import { backfillInput, feedWhenRunning, takeBars, tickSymbol, unfillableFindings, type BarsTaker, type SymbolQuality } from '../../../../actors/quality/symbol-quality.ts';

const bar = (ts: number): FeedBar => ({ ts, open: 1, high: 1, low: 1, close: 1, volume: 1 });

/** An actor stand-in: takes events only once `running`; `onSend` runs during a send, as its subscribers would. */
function fakeActor(running: boolean) {
  const sent: BarsClosedEvent[] = [];
  const actor: BarsTaker & { running: boolean; onSend: () => void } = {
    running,
    onSend: () => undefined,
    getSnapshot: () => ({ matches: (state: 'running') => state === 'running' && actor.running }),
    send: (event) => {
      sent.push(event);
      actor.onSend();
    },
  };
  return { actor, sent };
}

describe('feedWhenRunning', () => {
  it('sends the bars at once to a running actor', () => {
    const { actor, sent } = fakeActor(true);
    const waiting: FeedBar[] = [];
    feedWhenRunning(actor, waiting, [bar(0), bar(60_000)]);
    expect(sent.map((e) => e.bars.map((b) => b.ts))).toEqual([[0, 60_000]]);
    expect(waiting).toEqual([]);
  });

  it('keeps bars while the actor starts and sends them first, in order, once it runs', () => {
    const { actor, sent } = fakeActor(false);
    const waiting: FeedBar[] = [];
    feedWhenRunning(actor, waiting, [bar(0)]);
    feedWhenRunning(actor, waiting, [bar(60_000)]);
    expect(sent, 'an actor that is not running yet takes no events').toEqual([]);
    expect(waiting.map((b) => b.ts)).toEqual([0, 60_000]);
    actor.running = true;
    feedWhenRunning(actor, waiting, [bar(120_000)]);
    expect(sent.map((e) => e.bars.map((b) => b.ts))).toEqual([[0, 60_000, 120_000]]);
    expect(waiting).toEqual([]);
  });

  it('sends nothing when there is nothing to send', () => {
    const { actor, sent } = fakeActor(true);
    feedWhenRunning(actor, [], []);
    expect(sent).toEqual([]);
  });

  it('empties the waiting bars before sending: a flush from a subscriber during the send sends nothing twice', () => {
    const { actor, sent } = fakeActor(false);
    const waiting: FeedBar[] = [];
    feedWhenRunning(actor, waiting, [bar(0)]);
    actor.running = true;
    // What the supervisor's subscriber does on each snapshot: flush the waiting bars.
    actor.onSend = () => {
      if (waiting.length > 0) feedWhenRunning(actor, waiting, []);
    };
    feedWhenRunning(actor, waiting, [bar(60_000)]);
    expect(sent.map((e) => e.bars.map((b) => b.ts)), 'each bar is sent once').toEqual([[0, 60_000]]);
  });
});

describe('backfillInput', () => {
  const q = {
    silenceTimeoutMs: 300_000,
    fillAttempts: 4,
    retryMinMs: 1_000,
    retryMaxMs: 60_000,
    interpolate: false,
    expectedStart: { by: { nyse: 60_000 } },
  } as const satisfies Partial<QualitySettings>;
  const settings = q as unknown as QualitySettings;

  it('takes the venue calendar and the fill settings, and scans from the expected start to the first bar', () => {
    expect(backfillInput(settings, { nyse: 'nyse' }, 'nyse', 'AAPL', 600_000)).toEqual({
      venue: 'nyse',
      symbol: 'AAPL',
      config: { calendar: 'nyse', silenceTimeoutMs: 300_000, maxAttempts: 4, retryMinMs: 1_000, retryMaxMs: 60_000, interpolate: false },
      scan: { from: 60_000, to: 600_000 },
    });
  });

  it('scans nothing without an expected start, or when the first bar is not after it', () => {
    expect(backfillInput(settings, {}, 'binance', 'BTCUSDT', 600_000).scan, 'no expected start for binance').toBeUndefined();
    expect(backfillInput(settings, {}, 'nyse', 'AAPL', 60_000).scan, 'the first bar is at the expected start').toBeUndefined();
  });

  it('defaults to the always-open calendar and turns a zero silence timeout into never', () => {
    const input = backfillInput({ ...settings, silenceTimeoutMs: 0 }, {}, 'binance', 'BTCUSDT', 0);
    expect(input.config?.calendar).toBe('always');
    expect(input.config?.silenceTimeoutMs).toBe(Number.MAX_SAFE_INTEGER);
  });
});

describe('unfillableFindings', () => {
  const gap = (id: number, detail: Record<string, unknown> = {}, method?: string) => ({
    id,
    from: Date.UTC(2024, 0, 2, 10),
    to: Date.UTC(2024, 0, 2, 10, 2),
    bars: 3,
    method,
    detail,
  });

  it('reports each unfillable gap once as a gap finding', () => {
    const reported = new Set<number>();
    const first = unfillableFindings([gap(1, {}, 'csv'), gap(2, { missing: 2 })], reported);
    expect(first).toEqual([
      { kind: 'gap', ts: Date.UTC(2024, 0, 2, 10), detail: 'unfillable gap 2024-01-02T10:00:00.000Z..2024-01-02T10:02:00.000Z: 3 bar(s) history (csv) does not have' },
      { kind: 'gap', ts: Date.UTC(2024, 0, 2, 10), detail: 'unfillable gap 2024-01-02T10:00:00.000Z..2024-01-02T10:02:00.000Z: 2 bar(s) history (?) does not have' },
    ]);
    expect([...reported]).toEqual([1, 2]);
    expect(unfillableFindings([gap(1), gap(2), gap(3)], reported).map((f) => f.detail.includes('3 bar(s)')), 'only gap 3 is new').toEqual([true]);
    expect([...reported]).toEqual([1, 2, 3]);
  });

  it('counts the bars of the gap when its detail has no number of missing bars', () => {
    const [f] = unfillableFindings([gap(7, { missing: 'many' })], new Set());
    expect(f?.detail).toContain(': 3 bar(s)');
  });
});

describe('tickSymbol', () => {
  const q = { silenceTimeoutMs: 300_000, liveLagMs: 86_400_000 } as unknown as QualitySettings;
  function entry() {
    const backfill: { type: string; now: number }[] = [];
    const consistency: { type: string; now: number }[] = [];
    const e = {
      bars: 0,
      lastBarTs: undefined,
      lastArrivalAt: undefined,
      backfill: { send: (ev: { type: string; now: number }) => backfill.push(ev), getSnapshot: () => ({ matches: () => false }) },
      consistency: { send: (ev: { type: string; now: number }) => consistency.push(ev), getSnapshot: () => ({ matches: () => false }) },
      waiting: { backfill: [], consistency: [] },
    } as unknown as SymbolQuality;
    return { e, backfill, consistency };
  }
  const now = Date.UTC(2026, 0, 1, 12);

  it('does not call a feed silent while its bars are still arriving behind the clock (a replay catching up)', () => {
    const { e, backfill, consistency } = entry();
    // Bars of two hours ago arriving now: overdue by the clock, but the feed is not quiet.
    takeBars(e, [bar(now - 2 * 3_600_000)], now - 1_000);
    tickSymbol(e, q, now);
    expect(backfill, 'no silence check').toEqual([]);
    expect(consistency.length, 'the window flush still runs').toBe(1);
  });

  it('checks for silence once no bar has arrived for the timeout', () => {
    const { e, backfill } = entry();
    takeBars(e, [bar(now - 2 * 3_600_000)], now - 300_000);
    tickSymbol(e, q, now);
    expect(backfill).toEqual([{ type: 'clock.tick', now }]);
  });

  it('leaves a replay of old data alone', () => {
    const { e, backfill, consistency } = entry();
    takeBars(e, [bar(now - 3 * 86_400_000)], now - 3_600_000);
    tickSymbol(e, q, now);
    expect([backfill, consistency]).toEqual([[], []]);
  });
});
