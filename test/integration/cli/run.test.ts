import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTicks } from '../../../sql/index.ts';
import { NatsServer } from '../../helpers/nats-server.ts';
import { TestDatabase } from '../../helpers/postgres.ts';
import { createPool } from '../../../sql/index.ts';

function runCli(args: string[], env: NodeJS.ProcessEnv, onStdout?: (text: string, kill: (sig: NodeJS.Signals) => void) => void) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['bin/signals.js', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      onStdout?.(stdout, (sig) => child.kill(sig));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('signals run', () => {
  let nats: NatsServer;
  let database: TestDatabase;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    [nats, database] = await Promise.all([NatsServer.start(), TestDatabase.create('cli_run')]);
    env = { NATS_URL: nats.url, DATABASE_URL: database.url, BAR_GRACE_MS: '500', LOG_LEVEL: 'info', METRICS_PORT: '0' };
  });
  afterAll(async () => {
    await nats?.dispose();
    await database?.dispose();
  });

  it('--exit-after-replay runs Phase 1-4 on the synthetic market, prints the summary and exits 0', async () => {
    const r = await runCli(['run', '--exit-after-replay', '--symbols', '3', '--minutes', '80'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| phase 1\s+\| done: trained \d regime models/);
    expect(r.stdout).toMatch(/\| ticks stored\s+\| 960\s+\|/);
    expect(r.stdout).toMatch(/\| bars closed\s+\| 240\s+\|/);
    // The hybrid predictor needs volWindow 30 + lookback 24 bars: per symbol 80 - 53 predictions.
    expect(r.stdout).toMatch(/\| predictions\s+\| 81\s+\|/);
    expect(r.stdout).toMatch(/\| versions deployed\s+\| [1-9]/);
    expect(r.stdout).toMatch(/\| direction accuracy\s+\| \d+\.\d % over 78 scored predictions/);
    const db = createPool(database.url);
    try {
      expect(await countTicks(db, 'sim')).toBe(960);
    } finally {
      await db.end();
    }
  }, 60_000);

  it('a second run skips Phase 1: the pretrained versions are already active', async () => {
    const r = await runCli(['run', '--exit-after-replay', '--venue', 'sim2', '--symbols', '2', '--minutes', '60'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| phase 1\s+\| skipped: pretrained versions already active/);
    expect(r.stdout).toMatch(/\| ticks stored\s+\| 480\s+\|/);
    expect(r.stdout).toMatch(/\| predictions\s+\| 14\s+\|/);
    // Several symbols realise outcomes at the same minutes: each gets its own skill report.
    const reports = [...r.stdout.matchAll(/^forecast skill per horizon, (sim2\.\S+) \(\d+ realised outcomes; report: (\S+)\):$/gm)];
    expect(reports.map((m) => m[1]).sort(), r.stdout).toEqual(['sim2.SYN000', 'sim2.SYN001']);
    expect(reports.every((m) => m[2]?.includes(`/${m[1] ?? ''}/`))).toBe(true);
  }, 60_000);

  it('drains and exits 0 on SIGINT while replaying', async () => {
    let sent = false;
    const r = await runCli(['run', '--venue', 'slow', '--speed', '60', '--symbols', '2', '--minutes', '60'], env, (out, kill) => {
      if (!sent && /"msg":"progress"/.test(out)) {
        sent = true;
        kill('SIGINT');
      }
    });
    expect(sent, 'progress lines appear when stdout is not a terminal').toBe(true);
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);

  it('signals status reports the running system (phase, consumers, versions, symbols), and works without one', async () => {
    let statusOut = '';
    let asked = false;
    const run = runCli(['run', '--live'], env, (out, kill) => {
      if (asked || !/"phase":"running\.healthy"/.test(out)) return;
      asked = true;
      void runCli(['status', '--json'], env).then((r) => {
        statusOut = r.stdout;
        kill('SIGINT');
      });
    });
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(statusOut) as { system: { phase: string } | null; consumers: { consumer: string }[]; activeModels: Record<string, unknown>; symbols: { venue: string }[] };
    expect(report.system?.phase, 'the running system answered on signals.status').toBe('running.healthy');
    expect(report.consumers.map((c) => c.consumer)).toEqual(expect.arrayContaining(['market_sync', 'predictor']));
    expect(Object.keys(report.activeModels)).toContain('default');
    expect(report.symbols.map((x) => x.venue)).toContain('sim');
    const idle = await runCli(['status'], env);
    expect(idle.code).toBe(0);
    expect(idle.stdout).toMatch(/system: not running/);
    expect(idle.stdout).toMatch(/market_sync/);
  }, 60_000);

  it('reports a bad flag with exit 2 and no stack trace', async () => {
    const r = await runCli(['run', '--speed', 'fast'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^signals: --speed must be a number > 0 or "max"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
