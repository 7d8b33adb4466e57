import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../../config/index.ts';
import { parseQualitySettings, QualitySettingsError, startQualitySupervisor } from '../../../../actors/quality/quality-supervisor.ts';
import type { BarRow } from '../../../../market/index.ts';
import { QualityBoard } from '../../../../actors/quality/index.ts';
import { listGaps } from '../../../../sql/gaps.repo.ts';
import { listQualityReports } from '../../../../sql/quality.repo.ts';
import { ensureTopology, msgIds, publishPipelined, subjects, type Bar } from '../../../../streams/index.ts';
import { marketBars } from '../../../support/models/fixtures.ts';
import { eventually } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { storeLiveBars } from '../../../support/actors/quality/fixtures.ts';

describe('parseQualitySettings', () => {
  it('has documented defaults', () => {
    const q = parseQualitySettings(loadSettings({}));
    expect(q).toMatchObject({
      historyDir: undefined, interpolate: false, silenceTimeoutMs: 300_000, liveLagMs: 86_400_000, calendars: {},
      expectedStart: { by: {} }, fillAttempts: 4, retryMinMs: 1_000, retryMaxMs: 60_000, windowMs: 900_000, durable: 'quality_supervisor',
    });
    expect(q.expectedStart.all, 'no expected start unless configured').toBeUndefined();
  });

  it('reads calendars per venue and expected starts for all, a venue or a venue.symbol', () => {
    const q = parseQualitySettings(loadSettings({
      QUALITY_CALENDARS: 'nyse=nyse, binance=always',
      QUALITY_EXPECTED_START: '2024-03-01T00:00:00Z,nyse=2019-01-02,binance.BTCUSDT=1709251260000',
      QUALITY_INTERPOLATE: 'true',
      QUALITY_SILENCE_TIMEOUT_MS: '0',
    }));
    expect(q.calendars).toEqual({ nyse: 'nyse', binance: 'always' });
    expect(q.expectedStart).toEqual({ all: Date.parse('2024-03-01T00:00:00Z'), by: { nyse: Date.parse('2019-01-02'), 'binance.BTCUSDT': 1_709_251_260_000 } });
    expect(q.interpolate).toBe(true);
    expect(q.silenceTimeoutMs).toBe(0);
  });

  it('names the variable of every bad value', () => {
    const bad = () => parseQualitySettings(loadSettings({ QUALITY_CALENDARS: 'x=lunar', QUALITY_EXPECTED_START: 'soon' }));
    expect(bad).toThrow(QualitySettingsError);
    expect(bad).toThrow(/QUALITY_CALENDARS: "x=lunar".*\n.*QUALITY_EXPECTED_START: "soon"/);
    expect(() => loadSettings({ QUALITY_FILL_ATTEMPTS: '0' }), 'loadSettings validates each value').toThrow(/QUALITY_FILL_ATTEMPTS/);
    expect(() => parseQualitySettings(loadSettings({ QUALITY_RETRY_MIN_MS: '5000', QUALITY_RETRY_MAX_MS: '1000' }))).toThrow(/QUALITY_RETRY_MAX_MS/);
  });
});

describe('quality supervisor on nats-server + PostgreSQL', () => {
  let sys: TestSystem;
  let bars: BarRow[];
  beforeAll(async () => {
    sys = await startTestSystem('quality_supervisor');
    bars = marketBars(120, 0);
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
  });
  afterAll(async () => sys?.dispose());

  it('one unfiltered durable for every symbol; one backfill + consistency pair per symbol; status per symbol', async () => {
    const series = [
      { venue: 'binance', symbol: 'BTCUSDT', drop: [30, 31, 32] },
      { venue: 'kraken', symbol: 'XBTUSD', drop: [] as number[] },
    ];
    const toBar = (venue: string, symbol: string, b: BarRow): Bar => ({
      venue, symbol, interval: '1m', ts: b.ts, open: b.open, high: b.high, low: b.low, close: b.close, volume: b.volume, source: 'live',
    });
    for (const s of series) await storeLiveBars(sys.db, s.venue, s.symbol, bars.filter((_, i) => !s.drop.includes(i)));
    const sup = await startQualitySupervisor({
      nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, board: new QualityBoard(), calendars: {},
      provider: { name: 'none', fetchBars: async () => [] },
      quality: { silenceTimeoutMs: 0, fillAttempts: 1, retryMinMs: 10, retryMaxMs: 20, durable: 'sup_test', expectedStart: { by: {} } },
    });
    await publishPipelined(
      jetstream(sys.nc),
      series.flatMap((s) =>
        bars
          .filter((_, i) => !s.drop.includes(i))
          .map((b) => ({ subject: subjects.bar1m(s.venue, s.symbol), payload: toBar(s.venue, s.symbol, b), msgId: msgIds.bar(s.venue, s.symbol, b.ts) })),
      ),
    );
    await eventually(() => sup.status().reduce((n, s) => n + s.bars, 0) === 120 + 117, 10_000, 'every bar handed to the actors');
    await sup.settled(10_000);
    await sup.stop(10_000);

    const jsm = await jetstreamManager(sys.nc);
    const consumers = [];
    for await (const c of jsm.consumers.list('MD_BARS')) consumers.push(c);
    expect(consumers.map((c) => [c.name, c.config.filter_subject ?? '']), 'one consumer, no subject filter').toEqual([['sup_test', '']]);
    const status = sup.status().sort((a, b) => a.venue.localeCompare(b.venue));
    expect(status.map((s) => [s.venue, s.symbol, s.bars]), 'one entry per symbol').toEqual([
      ['binance', 'BTCUSDT', 117],
      ['kraken', 'XBTUSD', 120],
    ]);
    expect(status[0]?.gaps, 'the 3-minute hole found; history has nothing').toMatchObject({ found: 1, filled: 0, unfillable: 1 });
    const gapReports = (await listQualityReports(sys.db, 'binance', 'BTCUSDT')).filter((r) => r.findings.some((f) => f.kind === 'gap'));
    expect(gapReports.map((r) => r.state), 'the unfillable gap is reported once and degrades the symbol').toEqual(['degraded']);
    expect(status[1]?.gaps).toMatchObject({ found: 0, unfillable: 0 });
    expect(status[1]?.quality).toBe('healthy');
    expect(status.every((s) => s.consistency.windows === 8), 'every 15-minute window of 2 hours reported').toBe(true);
    expect((await listGaps(sys.db, { venue: 'binance' })).map((g) => [g.from, g.to, g.status])).toEqual([[bars[30]?.ts, bars[32]?.ts, 'unfillable']]);
  });
});
