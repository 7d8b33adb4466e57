import { spawn, type ChildProcess } from 'node:child_process';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BarLane, type LaneBar } from '../../../../actors/ingest/bar-lane.ts';
import { startMarketSync } from '../../../../actors/ingest/market-sync.ts';
import { sameBar } from '../../../../actors/prediction/predictor-fast-lane.ts';
import { barToTicks, readBarsCsv, type BarRow } from '../../../../market/index.ts';
import { countTicks, readBars } from '../../../../sql/index.ts';
import { msgIds, publishPipelined, subjects, type Bar, type Tick } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { BTCUSDT_CSV, describeRealData } from '../../../support/market/shared-data.ts';

const BTC = BTCUSDT_CSV;

function ticksOf(bars: readonly BarRow[], venue: string, symbol: string): Tick[] {
  const out: Tick[] = [];
  let prevClose: number | undefined;
  for (const b of bars) {
    out.push(...barToTicks(b, prevClose === undefined ? { venue, symbol } : { venue, symbol, prevClose }));
    prevClose = b.close;
  }
  return out;
}

async function publishTicks(sys: TestSystem, ticks: readonly Tick[]): Promise<void> {
  await publishPipelined(
    jetstream(sys.nc),
    ticks.map((t) => ({ subject: subjects.tick(t.venue, t.symbol), payload: t, msgId: msgIds.tick(t.venue, t.symbol, t.tradeId) })),
    1_024,
  );
}

function expectSameBars(stored: readonly Bar[], source: readonly BarRow[], what: string): void {
  expect(stored.length, `${what}: one stored bar per source row, no gaps, no extras`).toBe(source.length);
  const mismatches: string[] = [];
  for (let i = 0; i < source.length; i++) {
    const a = stored[i]!;
    const b = source[i]!;
    if (a.ts !== b.ts || a.open !== b.open || a.high !== b.high || a.low !== b.low || a.close !== b.close || a.volume !== b.volume) {
      mismatches.push(`${new Date(b.ts).toISOString()}: stored ${JSON.stringify([a.open, a.high, a.low, a.close, a.volume])} vs csv ${JSON.stringify([b.open, b.high, b.low, b.close, b.volume])}`);
    }
  }
  expect(mismatches.slice(0, 5), `${what}: every OHLCV value equals the CSV`).toEqual([]);
}

describeRealData('replaying the BTCUSDT file as ticks through the real path', () => {
  let sys: TestSystem;
  let bars: BarRow[];

  beforeAll(async () => {
    sys = await startTestSystem('replay', { BAR_GRACE_MS: 300 });
    ({ bars } = await readBarsCsv(BTC));
  });
  afterAll(async () => sys?.dispose());

  it('gives bars_1m rows equal to the CSV and one bar message per bar', async () => {
    expect(bars.length, 'the file has 30,900 bars').toBe(30_900);
    // The bars marketSync hands to the predictor before they are stored (see BarLane) are watched too.
    const lane = new BarLane();
    const handed: LaneBar[] = [];
    lane.listen((b) => handed.push(...b));
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, lane });
    await sync.ready();
    await publishTicks(sys, ticksOf(bars, 'binance', 'BTCUSDT'));
    await eventually(async () => (await readBars(sys.db, 'binance', 'BTCUSDT')).length === bars.length, 120_000, 'all bars');
    await sync.stop();
    const stored = await readBars(sys.db, 'binance', 'BTCUSDT');
    expectSameBars(stored, bars, 'full replay');
    // Every bar but the last (closed by the grace timer after the replay) was handed over at its closing tick.
    expect(handed.length, 'bars handed over').toBeGreaterThanOrEqual(bars.length - 1);
    const byTs = new Map(stored.map((b) => [b.ts, b]));
    const differ = handed.filter((h) => !sameBar(h.bar, byTs.get(h.bar.ts) ?? h.bar) || !byTs.has(h.bar.ts));
    expect(differ.slice(0, 3), 'each bar handed over equals the bar stored for it').toEqual([]);
    expect(handed.slice(1).every((h, i) => h.prevTs === handed[i]?.bar.ts), 'each names the bar closed before it').toBe(true);
    const msgs = await readStream<Bar>(sys.nc, 'MD_BARS', 'md.bar.1m.binance.BTCUSDT');
    expect(msgs.length, 'one md.bar.1m message per bar').toBe(bars.length);
    expect(new Set(msgs.map((m) => m.data.ts)).size, 'no bar published twice').toBe(bars.length);
  }, 180_000);

  it('a batch stored but never acked (crash before ack) is redelivered without duplicating rows', async () => {
    const slice = bars.slice(0, 600);
    const ticks = ticksOf(slice, 'crash', 'BTCUSDT');
    // A first process stores a batch and dies before acking: its connection closes with the batch unacked.
    const { connectNats } = await import('../../../../streams/index.ts');
    const { IngestPipeline } = await import('../../../../actors/ingest/ingest-pipeline.ts');
    const { ensureDurable } = await import('../../../../streams/index.ts');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const nc1 = await connectNats(sys.settings, 'doomed');
    await ensureDurable(await jetstreamManager(nc1), {
      stream: 'MD_TICKS', durable: 'crashy', filterSubject: 'md.tick.crash.>', ackWaitMs: 2_000, maxAckPending: 10_000,
    });
    await publishTicks(sys, ticks);
    const consumer = await jetstream(nc1).consumers.get('MD_TICKS', 'crashy');
    const batch = [];
    for await (const m of await consumer.fetch({ max_messages: 1_000, expires: 2_000 })) batch.push(m);
    const doomed = new IngestPipeline({ js: jetstream(nc1), db: sys.db, log: sys.log, validation: { maxPayloadBytes: 4096, maxSkewMs: 60_000, acceptPast: true } });
    const screened = await doomed.screen(batch);
    await doomed.store(screened.ticks, doomed.tracker.plan(screened.ticks, Date.now()));
    await nc1.close(); // no ack
    expect(await countTicks(sys.db, 'crash', 'BTCUSDT'), 'the doomed batch was committed').toBe(1_000);

    const settings = { ...sys.settings, INGEST_DURABLE: 'crashy', INGEST_ACK_WAIT_MS: 2_000 };
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings, log: sys.log });
    await sync.ready();
    await eventually(async () => (await readBars(sys.db, 'crash', 'BTCUSDT')).length === slice.length, 60_000, 'all bars after redelivery');
    await sync.stop();
    expect(await countTicks(sys.db, 'crash', 'BTCUSDT'), 'redelivered ticks are not stored twice').toBe(ticks.length);
    expectSameBars(await readBars(sys.db, 'crash', 'BTCUSDT'), slice, 'after redelivery');
  }, 120_000);

  it('SIGKILL in the middle of a replay, then a restart, ends with exactly the rows of an uninterrupted run', async () => {
    const slice = bars.slice(1_000, 7_000);
    const ticks = ticksOf(slice, 'kill', 'BTCUSDT');
    await publishTicks(sys, ticks);
    const env = {
      ...process.env,
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      INGEST_DURABLE: 'killable',
      INGEST_BATCH_SIZE: '500',
      INGEST_ACK_WAIT_MS: '2000',
      BAR_GRACE_MS: '300',
    };
    const startWorker = () =>
      new Promise<ChildProcess>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/ingest-worker.ts'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve(child));
        child.once('exit', (code) => reject(new Error(`worker exited early with ${code}`)));
      });
    const kill = (child: ChildProcess) => new Promise<void>((r) => { child.removeAllListeners('exit'); child.once('exit', () => r()); child.kill('SIGKILL'); });
    for (const fraction of [0.2, 0.5]) {
      const worker = await startWorker();
      await eventually(async () => (await countTicks(sys.db, 'kill', 'BTCUSDT')) >= ticks.length * fraction, 60_000, `${fraction * 100}% stored`);
      await kill(worker);
    }
    const last = await startWorker();
    await eventually(async () => (await readBars(sys.db, 'kill', 'BTCUSDT')).length === slice.length, 90_000, 'all bars after restarts');
    await new Promise((r) => setTimeout(r, 500));
    await kill(last);
    expect(await countTicks(sys.db, 'kill', 'BTCUSDT'), 'no lost or duplicate ticks').toBe(ticks.length);
    expectSameBars(await readBars(sys.db, 'kill', 'BTCUSDT'), slice, 'after SIGKILLs');
    const msgs = await readStream<Bar>(sys.nc, 'MD_BARS', 'md.bar.1m.kill.BTCUSDT');
    expect(msgs.map((m) => m.data.ts), 'every bar published exactly once, in order').toEqual(slice.map((b) => b.ts));
  }, 240_000);
});
