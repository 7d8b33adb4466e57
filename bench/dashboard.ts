// The dashboard left open during a replay: memory of the page and of the server.
//
//   npx tsx bench/dashboard.ts [--minutes 10] [--csv ../shared/data/btcusdt_binance_spot_1m_2024-03.csv] [--speed 1200]
//                              [--screenshot docs/dashboard.png]
//
// Starts `signals run --csv FILE --symbol BTCUSDT --speed N` (its own dashboard off) and,
// beside it, `signals dashboard` (so the server's memory is the dashboard's alone) on a
// private nats-server and database, opens the page in Debian's chromium on that symbol
// and samples every 30 s: the dashboard process's RSS, the page's JS heap, DOM nodes and
// the candles it holds, and the run's RSS. Prints a table and the growth over the second
// half (least-squares slope, MB per minute): bounded memory shows as a flat second half.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, launchBrowser } from '../test/helpers/browser.ts';
import { startTestSystem } from '../test/helpers/system.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    csv: { type: 'string', default: '../shared/data/btcusdt_binance_spot_1m_2024-03.csv' },
    speed: { type: 'string', default: '1200' },
    /** Save a screenshot of the page at the end (docs/dashboard.png is made this way). */
    screenshot: { type: 'string' },
  },
});
const MINUTES = Number(values.minutes);

async function rssMb(pid: number | undefined): Promise<number> {
  if (pid === undefined) return NaN;
  const s = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(s)?.[1]);
  return kb / 1024;
}

function spawnCli(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; out: () => string } {
  const child = spawn(process.execPath, ['bin/signals.js', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  return { child, out: () => out };
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const slope = (pts: { x: number; y: number }[]): number => {
  const n = pts.length;
  if (n < 2) return NaN;
  const mx = pts.reduce((s, p) => s + p.x, 0) / n;
  const my = pts.reduce((s, p) => s + p.y, 0) / n;
  const sxy = pts.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const sxx = pts.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return sxx === 0 ? NaN : sxy / sxx;
};

const sys = await startTestSystem('bench_dashboard');
const port = await freePort();
const env = {
  NATS_URL: sys.settings.NATS_URL,
  DATABASE_URL: sys.settings.DATABASE_URL,
  METRICS_PORT: '0',
  LOG_LEVEL: 'warn',
  ARTIFACTS_DIR: mkdtempSync(join(tmpdir(), 'bench-dash-')),
  BACKUP_SCHEDULE: 'off',
};
const run = spawnCli(['run', '--csv', values.csv, '--symbol', 'BTCUSDT', '--speed', values.speed], { ...env, DASHBOARD_PORT: 'off' });
const dash = spawnCli(['dashboard'], { ...env, DASHBOARD_PORT: String(port) });
const browser = await launchBrowser();
try {
  await waitFor(() => /dashboard: http/.test(dash.out()), 60_000, 'signals dashboard');
  await waitFor(async () => (await sys.db.query('SELECT 1 FROM predictions LIMIT 1')).rowCount === 1, 300_000, 'the first prediction');
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  await page.goto(`http://127.0.0.1:${port}/?symbol=replay.BTCUSDT`);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const started = Date.now();
  const rows: { min: number; dashRss: number; runRss: number; heap: number; nodes: number; candles: number; preds: number }[] = [];
  console.log('min   dashboard RSS MB   page JS heap MB   DOM nodes   candles held   predictions stored   run RSS MB');
  for (;;) {
    const m = (await cdp.send('Performance.getMetrics')).metrics;
    const metric = (name: string) => m.find((x) => x.name === name)?.value ?? NaN;
    const candles = Number(await page.locator('#price').getAttribute('data-candles'));
    const preds = (await sys.db.query<{ n: number }>('SELECT count(*)::int AS n FROM predictions')).rows[0]?.n ?? 0;
    const row = { min: (Date.now() - started) / 60_000, dashRss: await rssMb(dash.child.pid), runRss: await rssMb(run.child.pid), heap: metric('JSHeapUsedSize') / 1_048_576, nodes: metric('Nodes'), candles, preds };
    rows.push(row);
    console.log(
      `${row.min.toFixed(1).padStart(4)}   ${row.dashRss.toFixed(1).padStart(16)}   ${row.heap.toFixed(1).padStart(15)}   ${String(row.nodes).padStart(9)}   ${String(row.candles).padStart(12)}   ${String(row.preds).padStart(18)}   ${row.runRss.toFixed(1).padStart(10)}`,
    );
    if (row.min >= MINUTES || run.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 30_000));
  }
  if (values.screenshot) {
    await page.screenshot({ path: values.screenshot });
    console.log(`screenshot: ${values.screenshot}`);
  }
  const half = rows.filter((r) => r.min >= MINUTES / 2);
  const max = (k: 'dashRss' | 'heap' | 'runRss') => Math.max(...rows.map((r) => r[k]));
  console.log(`\nmax: dashboard RSS ${max('dashRss').toFixed(1)} MB, page heap ${max('heap').toFixed(1)} MB, run RSS ${max('runRss').toFixed(1)} MB`);
  console.log(
    `second-half slope (MB/min): dashboard RSS ${slope(half.map((r) => ({ x: r.min, y: r.dashRss }))).toFixed(2)}, page heap ${slope(half.map((r) => ({ x: r.min, y: r.heap }))).toFixed(2)}, run RSS ${slope(half.map((r) => ({ x: r.min, y: r.runRss }))).toFixed(2)}`,
  );
} finally {
  await browser.close();
  dash.child.kill('SIGTERM');
  run.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 3_000));
  await sys.dispose();
}
