/// <reference lib="dom" />
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { registerCandidate } from '../../actors/lifecycle/index.ts';
import type { BarRow } from '../../market/index.ts';
import { artifactDir, freePort, launchBrowser, screenshot } from '../helpers/browser.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';
import { marketSlice, publishFeed, runCli, spawnSystem, tickFeed, type SystemProcess } from './harness.ts';

const VENUE = 'dash';
const SYM = 'SYNA';
const JUMPY = 'JUMPY';
const HOLE = { from: 70, bars: 5 };
const SHOTS = artifactDir('dashboard');

type Marker = { kind: string; text: string; ts: number };

/**
 * The dashboard of `signals run` with its default settings (a free port instead of
 * 8080), in Debian's chromium: a replay with a hole in it and a symbol whose price
 * starts jumping, a forced rollback, and a restart of the system under an open page.
 */
describe('the live dashboard in a real browser', () => {
  let sys: TestSystem;
  let env: NodeJS.ProcessEnv;
  let proc: SystemProcess | undefined;
  let browser: Browser | undefined;
  let page: Page | undefined;
  let url = '';
  let bars: BarRow[];

  const startRun = async (): Promise<SystemProcess> => {
    const run = spawnSystem(['run', '--live'], env);
    proc = run;
    await run.waitFor(/dashboard: http:\/\/127\.0\.0\.1:\d+\//, 60_000);
    await run.waitFor(/"phase":"running/, 180_000);
    return run;
  };

  beforeAll(async () => {
    sys = await startTestSystem('dashboard');
    const port = await freePort();
    env = {
      NATS_URL: sys.settings.NATS_URL,
      DATABASE_URL: sys.settings.DATABASE_URL,
      METRICS_PORT: '0',
      DASHBOARD_PORT: String(port),
      LOG_LEVEL: 'info',
      ARTIFACTS_DIR: mkdtempSync(join(tmpdir(), 'dash-artifacts-')),
      BACKUP_DIR: mkdtempSync(join(tmpdir(), 'dash-backups-')),
      // A hole nobody can fill is declared unfillable after one attempt, not after minutes of retries.
      QUALITY_FILL_ATTEMPTS: '1',
      QUALITY_RETRY_MIN_MS: '100',
      QUALITY_RETRY_MAX_MS: '200',
    };
    url = `http://127.0.0.1:${port}/`;
    bars = marketSlice(0, 200);
    await startRun();
    browser = await launchBrowser();
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  }, 240_000);

  afterEach(async (ctx) => {
    if (ctx.task.result?.state === 'fail') {
      const path = await screenshot(page, SHOTS, ctx.task.name);
      if (path) console.log(`screenshot of the failed test: ${path}`);
    }
  });

  afterAll(async () => {
    await browser?.close();
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
    await sys?.dispose();
  });

  it('lists the symbols and draws candles with the forecast bands of every horizon', async () => {
    // 150 bars with a 5-minute hole, as ticks: history enough to warm up, a gap, predictions.
    const withHole = bars.slice(0, 150).filter((_, i) => i < HOLE.from || i >= HOLE.from + HOLE.bars);
    await publishFeed(sys.nc, tickFeed(VENUE, [SYM], withHole), 0);
    await eventually(async () => (await sys.db.query('SELECT 1 FROM predictions WHERE venue = $1 AND symbol = $2 LIMIT 1', [VENUE, SYM])).rowCount === 1, 120_000, 'a stored prediction');
    const p = page!;
    await p.goto(url);
    await p.locator(`#symbols tr[data-symbol="${VENUE}.${SYM}"]`).waitFor({ timeout: 15_000 });
    await p.locator(`#symbols tr[data-symbol="${VENUE}.${SYM}"]`).click();
    await p.waitForFunction(
      () => {
        const d = document.querySelector<HTMLElement>('#price')?.dataset;
        return Number(d?.candles) > 100 && Number(d?.bandPoints) > 10 && Number(d?.fanHorizons) >= 4;
      },
      undefined,
      { timeout: 20_000 },
    );
    const d = await p.evaluate(() => ({ ...document.querySelector<HTMLElement>('#price')!.dataset }));
    const stored = await sys.db.query<{ n: number }>('SELECT count(*)::int AS n FROM bars_1m WHERE venue = $1 AND symbol = $2', [VENUE, SYM]);
    expect(Number(d.candles), 'one candle per stored bar').toBe(stored.rows[0]!.n);
    expect(await p.locator('#last-forecast tbody tr').count(), 'a row per horizon').toBe(4);
    expect(await p.locator('body').getAttribute('data-connection')).toBe('live');
  });

  it('shows the gap where it happened', async () => {
    const p = page!;
    const holeStart = bars[HOLE.from]!.ts;
    await p.waitForFunction(() => Number(document.querySelector<HTMLElement>('#price')?.dataset.gapMarkers) > 0, undefined, { timeout: 30_000 });
    const markers = JSON.parse((await p.locator('#price').getAttribute('data-marker-times')) ?? '[]') as Marker[];
    const gap = markers.find((m) => m.kind === 'gap');
    // Marked on the first bar after the hole (the hole itself has no candle to carry it).
    expect(gap?.ts, 'the gap marker sits at the end of the hole').toBe(bars[HOLE.from + HOLE.bars]!.ts);
    expect(gap?.text).toMatch(new RegExp(`^gap ${HOLE.bars} `));
    const item = p.locator('#events li[data-kind="gap"]').first();
    await expect.poll(async () => item.textContent(), { timeout: 10_000 }).toContain(new Date(holeStart).toISOString().slice(0, 16).replace('T', ' '));
  });

  it('shows a new prediction within 2 s of its publication', async () => {
    const p = page!;
    const next = bars.slice(150, 156);
    const delays: number[] = [];
    const seen = new Map<number, number>();
    const sub = sys.nc.subscribe(`signal.pred.${VENUE}.${SYM}`, {
      callback: (_err, msg) => {
        seen.set((msg.json() as { ts: number }).ts, Date.now());
      },
    });
    try {
      for (const b of next) {
        await publishFeed(sys.nc, tickFeed(VENUE, [SYM], [b]), 0);
      }
      // Ticks of the next minute close the last one.
      await publishFeed(sys.nc, tickFeed(VENUE, [SYM], bars.slice(156, 157)), 0);
      await eventually(() => seen.size >= 3, 30_000, 'predictions of the new bars');
      for (const [ts, at] of [...seen].slice(-3)) {
        await p.waitForFunction((t) => Number(document.querySelector<HTMLElement>('#last-forecast')?.dataset.ts) >= t, ts, { timeout: 5_000, polling: 20 });
        delays.push(Date.now() - at);
      }
    } finally {
      sub.unsubscribe();
    }
    console.log(`publication -> on the page: ${delays.map((d) => `${d} ms`).join(', ')}`);
    expect(Math.max(...delays), 'each new prediction was on the page within 2 s').toBeLessThan(2_000);
  });

  it('shows a quarantine on the symbol list and on the chart where it happened', async () => {
    const p = page!;
    // Quiet for 90 minutes, then the price jumps by half every minute.
    const jumpy = bars.slice(0, 151).map((b, i) => {
      const k = i < 90 ? 1 : i % 2 === 0 ? 1.5 : 1 / 1.5;
      return { ...b, open: b.open * k, high: b.high * k, low: b.low * k, close: b.close * k };
    });
    await publishFeed(sys.nc, tickFeed(VENUE, [JUMPY], jumpy), 0);
    const row = p.locator(`#symbols tr[data-symbol="${VENUE}.${JUMPY}"]`);
    await expect.poll(async () => row.getAttribute('data-quality'), { timeout: 90_000 }).toBe('quarantined');
    await row.click();
    await p.waitForFunction(() => (document.querySelector<HTMLElement>('#price')?.dataset.qualityMarkers ?? '').includes('quarantined'), undefined, { timeout: 20_000 });
    const markers = JSON.parse((await p.locator('#price').getAttribute('data-marker-times')) ?? '[]') as Marker[];
    const q = markers.find((m) => m.kind === 'quality' && m.text === 'quarantined');
    expect(q?.ts, 'the quarantine is marked after the jumps began').toBeGreaterThanOrEqual(jumpy[90]!.ts);
    expect(q?.ts).toBeLessThanOrEqual(jumpy[150]!.ts);
    await expect.poll(async () => p.locator('#events li[data-kind="quality"]').count(), { timeout: 10_000 }).toBeGreaterThan(0);
  });

  it('shows a forced rollback in the model timeline', async () => {
    const p = page!;
    // A second version of the serving pretrained model (the same weights), promoted, then rolled back by hand.
    const active = await sys.db.query<{ version: string; regime: string; artifact: Buffer; artifact_sha256: string; kind: string }>(
      `SELECT version, regime, artifact, artifact_sha256, kind FROM model_versions WHERE status = 'active' AND role = 'pretrained' AND scope = 'global' ORDER BY created_at LIMIT 1`,
    );
    const cur = active.rows[0]!;
    const v = await registerCandidate(sys.db, { scope: 'global', role: 'pretrained', kind: cur.kind, regime: cur.regime, runId: 'dashboard-test', artifact: { bytes: cur.artifact, sha256: cur.artifact_sha256 }, parentVersion: cur.version });
    const promoted = await runCli(['models', 'promote', v, '--force', '--reason', 'test: promote a copy'], env);
    expect(promoted.code, promoted.out).toBe(0);
    const back = await runCli(['models', 'rollback', '--scope', 'global', '--role', 'pretrained', '--regime', cur.regime, '--reason', 'test: forced rollback'], env);
    expect(back.code, back.out).toBe(0);
    const item = p.locator(`#timeline li[data-kind="rolledback"][data-version="${cur.version}"]`);
    await item.waitFor({ timeout: 10_000 });
    expect(await item.textContent()).toContain('test: forced rollback');
    expect(await p.locator(`#timeline li[data-kind="deployed"][data-version="${v}"]`).count(), 'the promotion before it').toBe(1);
    const events = await readStream<{ kind: string }>(sys.nc, 'MODEL_EVENTS', 'model.events.rolledback');
    expect(events.length).toBeGreaterThan(0);
  });

  it('shows a staged rollout on the symbol list and in the timeline', async () => {
    const p = page!;
    const active = await sys.db.query<{ version: string; regime: string; artifact: Buffer; artifact_sha256: string; kind: string }>(
      `SELECT version, regime, artifact, artifact_sha256, kind FROM model_versions WHERE status = 'active' AND role = 'pretrained' AND scope = 'global' AND regime = 'any' LIMIT 1`,
    );
    const cur = active.rows[0]!;
    const v = await registerCandidate(sys.db, { scope: 'global', role: 'pretrained', kind: cur.kind, regime: cur.regime, runId: 'dashboard-rollout', artifact: { bytes: cur.artifact, sha256: cur.artifact_sha256 }, parentVersion: cur.version });
    const started = await runCli(['models', 'rollout', v, '--reason', 'test: stage a challenger'], env);
    expect(started.code, started.out).toBe(0);
    const badge = p.locator(`#symbols tr[data-symbol="${VENUE}.${SYM}"] [data-role="rollout"]`);
    await badge.waitFor({ timeout: 10_000 });
    expect(await badge.getAttribute('data-stage')).toBe('shadow');
    expect(await badge.textContent()).toContain(v);
    await p.locator(`#timeline li[data-kind="shadow_started"][data-version="${v}"]`).waitFor({ timeout: 10_000 });
  });

  it('reconnects after the system restarts and goes on showing predictions', async () => {
    const p = page!;
    p.on('pageerror', (e) => console.log(`page error: ${e.message}`));
    proc!.child.kill('SIGTERM');
    await proc!.exited;
    await p.waitForFunction(() => document.body.dataset.connection === 'reconnecting', undefined, { timeout: 15_000 });
    await startRun();
    await p.waitForFunction(() => document.body.dataset.connection === 'live', undefined, { timeout: 30_000 });
    await p.locator(`#symbols tr[data-symbol="${VENUE}.${SYM}"]`).click();
    const before = Number(await p.locator('#last-forecast').getAttribute('data-ts'));
    await publishFeed(sys.nc, tickFeed(VENUE, [SYM], bars.slice(157, 162)), 0);
    await p.waitForFunction((t) => Number(document.querySelector<HTMLElement>('#last-forecast')?.dataset.ts) > t, before, { timeout: 60_000 });
    await screenshot(p, SHOTS, 'after-restart');
  });
});
