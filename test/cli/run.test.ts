import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTicks } from '../../sql/index.ts';
import { NatsServer } from '../helpers/nats-server.ts';
import { TestDatabase } from '../helpers/postgres.ts';
import { createPool } from '../../sql/index.ts';

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
    env = { NATS_URL: nats.url, DATABASE_URL: database.url, BAR_GRACE_MS: '500', LOG_LEVEL: 'info' };
  });
  afterAll(async () => {
    await nats?.dispose();
    await database?.dispose();
  });

  it('--exit-after-replay ingests the synthetic market, predicts, prints the summary and exits 0', async () => {
    const r = await runCli(['run', '--exit-after-replay', '--symbols', '3', '--minutes', '30'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| ticks stored\s+\| 360\s+\|/);
    expect(r.stdout).toMatch(/\| bars closed\s+\| 90\s+\|/);
    // Per symbol: the first prediction needs 5 returns (6 bars), then one per bar: 3 x 25.
    expect(r.stdout).toMatch(/\| predictions\s+\| 75\s+\|/);
    const db = createPool(database.url);
    try {
      expect(await countTicks(db, 'sim')).toBe(360);
    } finally {
      await db.end();
    }
  }, 60_000);

  it('a second run continues the synthetic market after the stored bars instead of rewriting them', async () => {
    const r = await runCli(['run', '--exit-after-replay', '--symbols', '3', '--minutes', '30'], env);
    // Started within a minute or two of the first run: only the minutes since then are new.
    if (r.code === 3) expect(r.stderr).toMatch(/already has bars up to/);
    else expect(r.stdout).toMatch(/duplicates ignored\s+\| 0 /);
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

  it('reports a bad flag with exit 2 and no stack trace', async () => {
    const r = await runCli(['run', '--speed', 'fast'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^signals: --speed must be a number > 0 or "max"/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
