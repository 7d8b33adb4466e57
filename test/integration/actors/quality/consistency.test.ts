import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActor, waitFor } from 'xstate';
import { consistencyMachine, type ConsistencyInput } from '../../../../actors/quality/consistency.machine.ts';
import { createConsistencyActors, type ConsistencyDeps } from '../../../../actors/quality/consistency.effects.ts';
import type { BarRow } from '../../../../market/index.ts';
import {
  checkWindow,
  DEFAULT_CHECK_CONFIG,
  emptyCheckState,
  qualityMessageSchema,
  QualityBoard,
  symbolQualityState,
  type FeedBar,
  type QualityMessage,
} from '../../../../actors/quality/index.ts';
import { insertTicks } from '../../../../sql/index.ts';
import { listQualityReports } from '../../../../sql/quality.repo.ts';
import { encodeJson, ensureTopology, subjects, type Bar, type Tick } from '../../../../streams/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

const SYMBOL = 'BTCUSDT';
const WINDOW_MS = 15 * 60_000;
let sys: TestSystem;
let clean: BarRow[];

beforeAll(async () => {
  sys = await startTestSystem('quality_consistency');
  await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  // 3 hours of the seeded market from 2024-03-11 00:00 UTC = 12 windows of 15 minutes.
  clean = marketBars(180, 10 * 1_440);
});
afterAll(async () => {
  await sys?.dispose();
});

const input = (venue: string): ConsistencyInput => ({
  venue,
  symbol: SYMBOL,
  config: { windowMs: WINDOW_MS, health: { quarantineAt: 2, recoverAfter: 2 } },
});

function startConsistency(venue: string, board: QualityBoard, extra: Partial<ConsistencyDeps> = {}) {
  const actors = createConsistencyActors({ db: sys.db, js: jetstream(sys.nc), log: sys.log, board, feed: false, ...extra });
  const actor = createActor(consistencyMachine.provide({ actors }), { input: input(venue) });
  actor.start();
  return actor;
}

const toBar = (venue: string, b: BarRow): Bar => ({
  venue, symbol: SYMBOL, interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'live',
});

describe('consistency actor on PostgreSQL + nats-server', () => {
  it('the clean 3 hours raise no finding (precondition of the corruption run)', () => {
    let state = emptyCheckState();
    for (let i = 0; i < clean.length; i += 15) {
      const r = checkWindow(clean.slice(i, i + 15), state, DEFAULT_CHECK_CONFIG);
      expect(r.findings, `window ${i / 15}`).toEqual([]);
      state = r.state;
    }
  });

  it('finds each injected corruption through md.bar.1m and the ticks table, with hysteresis, reports and events', async () => {
    const venue = 'binance_q';
    const board = new QualityBoard();
    const bars: BarRow[] = clean.map((b) => ({ ...b }));
    const ts = (i: number) => clean[i]?.ts ?? 0;
    const at = (i: number): BarRow => {
      const b = bars[i];
      if (!b) throw new Error(`no bar ${i}`);
      return b;
    };
    // Window 2: a 20 % spike at bar 35 (up at 35, back down at 36).
    Object.assign(at(35), { open: at(35).open * 1.2, high: at(35).high * 1.2, low: at(35).low * 1.2, close: at(35).close * 1.2 });
    // Window 9: bar 140 built from its ticks in arrival order (the earliest tick arrived last).
    const orig = at(140);
    expect(orig.open, 'the test needs a minute whose open and close differ').not.toBe(orig.close);
    const ticks: Tick[] = [
      { venue, symbol: SYMBOL, ts: orig.ts + 1_000, price: orig.open, size: orig.volume / 4, tradeId: 't1' },
      { venue, symbol: SYMBOL, ts: orig.ts + 10_000, price: orig.high, size: orig.volume / 4, tradeId: 't2' },
      { venue, symbol: SYMBOL, ts: orig.ts + 20_000, price: orig.low, size: orig.volume / 4, tradeId: 't3' },
      { venue, symbol: SYMBOL, ts: orig.ts + 50_000, price: orig.close, size: orig.volume / 4, tradeId: 't4' },
    ];
    const client = await sys.db.connect();
    try {
      await insertTicks(client, ticks);
    } finally {
      client.release();
    }
    bars[140] = { ...orig, open: orig.close, close: orig.open };
    // Windows 10-11: price frozen for 30 minutes (bars 150..179).
    const p = at(149).close;
    for (let i = 150; i < 180; i += 1) bars[i] = { ...at(i), open: p, high: p, low: p, close: p, volume: 0 };

    const actor = startConsistency(venue, board, { feed: { start: 'all', batchMs: 20 } });
    await waitFor(actor, (s) => s.matches('running'), { timeout: 10_000 });
    const js = jetstream(sys.nc);
    for (let i = 0; i < bars.length; i += 1) {
      await js.publish(subjects.bar1m(venue, SYMBOL), encodeJson(toBar(venue, at(i))));
      // Window 6: a second, different bar for minute 95 from another publisher.
      if (i === 95) await js.publish(subjects.bar1m(venue, SYMBOL), encodeJson({ ...toBar(venue, at(95)), volume: at(95).volume + 1 }));
    }
    await waitFor(actor, (s) => s.context.stats.bars === 181, { timeout: 10_000 });
    actor.send({ type: 'clock.tick', now: ts(179) + 10 * 60_000 }); // closes the last window
    const done = await waitFor(actor, (s) => s.context.stats.windows === 12 && s.matches({ running: 'idle' }), { timeout: 10_000 });
    actor.stop();

    const reports = await listQualityReports(sys.db, venue, SYMBOL);
    expect(reports.map((r) => r.windowFrom), 'one report per aligned 15-minute window').toEqual(
      Array.from({ length: 12 }, (_, w) => ts(0) + w * WINDOW_MS),
    );
    expect(reports.map((r) => r.findings.map((f) => `${f.kind}@${(f.ts - ts(0)) / 60_000}`)), 'findings per window').toEqual([
      [], [], ['price_jump@35', 'price_jump@36'], [], [], [], ['duplicate@95'], [], [], ['tick_mismatch@140'], [], ['flat@179'],
    ]);
    expect(reports.map((r) => r.state), 'hysteresis: quarantine on 2 severe, healthy after 2 clean windows').toEqual([
      'healthy', 'healthy', 'quarantined', 'quarantined', 'healthy', 'healthy', 'degraded', 'degraded', 'healthy', 'degraded', 'degraded', 'degraded',
    ]);
    expect(reports[9]?.findings[0]?.detail).toBe(`open ${orig.close} vs ticks ${orig.open}; close ${orig.open} vs ticks ${orig.close}`);

    const msgs = await readStream(sys.nc, 'MD_EVENTS', subjects.quality(venue, SYMBOL));
    const parsed: QualityMessage[] = msgs.map((m) => {
      const r = qualityMessageSchema.safeParse(m.data);
      if (!r.success) throw new Error(`md.quality message does not match its schema: ${r.error.message}`);
      return r.data;
    });
    expect(parsed.filter((m) => m.type === 'quality.report').length).toBe(12);
    expect(
      parsed.flatMap((m) => (m.type === 'quality.state_changed' ? [`${m.from}->${m.to}`] : [])),
      'a state change is an event',
    ).toEqual(['healthy->quarantined', 'quarantined->healthy', 'healthy->degraded', 'degraded->healthy', 'healthy->degraded']);
    expect(symbolQualityState(venue, SYMBOL, board), 'the board other actors read').toBe('degraded');
    expect(done.context.stats).toMatchObject({ windows: 12, findings: 5, changes: 5 });

    // A restarted actor starts from the stored state.
    const fresh = new QualityBoard();
    const again = startConsistency(venue, fresh);
    const resumed = await waitFor(again, (s) => s.matches('running'), { timeout: 10_000 });
    again.stop();
    expect(resumed.context.health.state).toBe('degraded');
    expect(symbolQualityState(venue, SYMBOL, fresh)).toBe('degraded');
  });

  it('quarantines on swapped high/low bars sent as events (the bar schema keeps them off md.bar.1m)', async () => {
    const venue = 'binance_ohlc';
    const board = new QualityBoard();
    const actor = startConsistency(venue, board);
    await waitFor(actor, (s) => s.matches('running'), { timeout: 10_000 });
    const feed: FeedBar[] = clean.slice(0, 30).map((b, i) => (i === 20 || i === 22 ? { ...b, high: b.low, low: b.high } : { ...b }));
    actor.send({ type: 'bars.closed', bars: feed });
    await waitFor(actor, (s) => s.context.stats.windows === 1 && s.matches({ running: 'idle' }), { timeout: 10_000 });
    actor.send({ type: 'clock.tick', now: (clean[29]?.ts ?? 0) + 5 * 60_000 });
    await waitFor(actor, (s) => s.context.stats.windows === 2 && s.matches({ running: 'idle' }), { timeout: 10_000 });
    actor.stop();
    const reports = await listQualityReports(sys.db, venue, SYMBOL);
    expect(reports.map((r) => [r.state, r.findings.map((f) => f.kind)])).toEqual([
      ['healthy', []],
      ['quarantined', ['ohlc', 'ohlc']],
    ]);
    expect(board.isQuarantined(venue, SYMBOL), 'the predictor must withhold predictions now').toBe(true);
  });
});
