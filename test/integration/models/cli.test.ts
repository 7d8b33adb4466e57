import { spawn } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, upsertBars } from '../../../sql/index.ts';
import { TestDatabase } from '../../helpers/postgres.ts';
import { marketBars, REPO_ROOT, tempDir, writeBarsCsv } from '../../support/models/fixtures.ts';

type Run = { code: number | null; stdout: string; stderr: string };

/** Runs `signals <args>` the way a user does (tsx on cli/main.ts), in the repo root. */
function signals(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['cli/main.ts', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A user error: the documented exit code and one `signals:` line, never a stack trace. */
function expectUserError(r: Run, code: number, message: RegExp): void {
  expect(r.code, `exit code (stderr: ${r.stderr})`).toBe(code);
  expect(r.stderr, 'the message names the problem').toMatch(message);
  expect(r.stderr, 'no stack trace for a user error').not.toMatch(/\n\s+at /);
  expect(r.stderr).not.toContain('internal error');
}

let dir: { path: string; dispose: () => Promise<void> };
let csv: string;
let best: string;
const common = ['--model', 'mlp', '--lookback', '12', '--hidden-units', '8', '--epochs', '2', '--batch-size', '64', '--seed', '5'];

beforeAll(async () => {
  dir = await tempDir('cli');
  csv = join(dir.path, 'btc.csv');
  await writeBarsCsv(csv, marketBars(700, 15_000));
  const r = await signals(['train', '--run-id', 'cli-ok', '--csv', csv, ...common, '--artifacts-dir', join(dir.path, 'artifacts')]);
  expect(r.code, r.stderr).toBe(0);
  best = join(dir.path, 'artifacts/checkpoints/cli-ok/best');
});
afterAll(async () => {
  await dir.dispose();
});

describe('signals train / infer through the CLI', () => {
  it('trains, reports, and infers every window as CSV and as JSON lines', async () => {
    const metrics = JSON.parse(await readFile(join(dir.path, 'artifacts/metrics/cli-ok.json'), 'utf8')) as { command: string; test: { n: number } };
    expect(metrics.command, 'the exact command is recorded').toBe(
      `signals train --run-id cli-ok --csv ${csv} ${common.join(' ')} --artifacts-dir ${join(dir.path, 'artifacts')}`,
    );
    const out = await signals(['infer', '--model', best, '--csv', csv]);
    expect(out.code, out.stderr).toBe(0);
    const lines = out.stdout.trim().split('\n');
    expect(lines[0]).toBe('ts,value,pUp');
    // 700 bars, warm-up volWindow 30 + lookback 12 = 42 bars -> 659 windows
    expect(lines.length - 1, 'one prediction per complete window').toBe(700 - 42 + 1);
    const [ts, value, pUp] = (lines[1] ?? '').split(',').map(Number);
    const bars = marketBars(700, 15_000);
    expect(ts, 'first prediction after bar 42').toBe(bars[41]?.ts);
    expect(Number.isFinite(value)).toBe(true);
    expect(pUp).toBeGreaterThan(0);
    const jsonl = join(dir.path, 'p.jsonl');
    const r2 = await signals(['infer', '--model', best, '--csv', csv, '--out', jsonl]);
    expect(r2.code, r2.stderr).toBe(0);
    const rows = (await readFile(jsonl, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { ts: number; value: number; pUp: number });
    expect(rows.length).toBe(lines.length - 1);
    expect(rows[0]).toEqual({ ts, value, pUp });
  });

  it('exit 2: usage errors', async () => {
    expectUserError(await signals(['train', '--csv', csv]), 2, /signals: missing required option --run-id/);
    expectUserError(await signals(['train', '--run-id', 'x', '--csv', csv, '--model', 'gru']), 2, /--model must be lstm or mlp/);
  });

  it('exit 3: an unreadable input file', async () => {
    expectUserError(await signals(['train', '--run-id', 'x', '--csv', join(dir.path, 'missing.csv')]), 3, /missing\.csv/);
    const badRow = join(dir.path, 'bad-row.csv');
    await writeBarsCsv(badRow, marketBars(300), (cells, i) => {
      if (i === 5) cells[4] = '-1';
    });
    expectUserError(await signals(['train', '--run-id', 'x', '--csv', badRow]), 3, /1 bad row\(s\) in .*bad-row\.csv: .*bad-row\.csv:7 close: must be > 0/);
  });

  it('exit 4: lookback of the data vs the warm-start checkpoint', async () => {
    const r = await signals(['train', '--run-id', 'warm', '--csv', csv, ...common, '--lookback', '16', '--init-from', best, '--artifacts-dir', join(dir.path, 'artifacts')]);
    expectUserError(r, 4, /signals: lookback \(--lookback vs --init-from\) mismatch in .*cli-ok\/best: expected 12, got 16/);
    expectUserError(await signals(['infer', '--model', best, '--csv', csv, '--horizon', '5']), 4, /horizon \(--horizon vs model\) mismatch: expected 5, got 1/);
  });

  it('exit 5: artifacts of different runs', async () => {
    const mixed = join(dir.path, 'mixed');
    await cp(best, mixed, { recursive: true });
    const prePath = join(mixed, 'preprocessor.json');
    const pre = JSON.parse(await readFile(prePath, 'utf8')) as Record<string, unknown>;
    await writeFile(prePath, JSON.stringify({ ...pre, runId: 'someone-else' }));
    const r = await signals(['train', '--run-id', 'warm2', '--csv', csv, ...common, '--init-from', mixed, '--artifacts-dir', join(dir.path, 'artifacts')]);
    expectUserError(r, 5, /run_id mismatch: .*mixed\/preprocessor\.json has run_id "someone-else", expected "cli-ok"/);
    expectUserError(await signals(['infer', '--model', best, '--csv', csv, '--run-id', 'other']), 5, /expected "other"/);
  });

  it('exit 6: too little data for the split', async () => {
    const small = join(dir.path, 'small.csv');
    await writeBarsCsv(small, marketBars(60));
    expectUserError(await signals(['train', '--run-id', 'small', '--csv', small, ...common]), 6, /too few bars for lookback 12, horizon 1 and a 70\/15\/15 split \(need \d+, got 60\)/);
  });

  it('exit 7: non-finite values in the input', async () => {
    const nan = join(dir.path, 'nan.csv');
    await writeBarsCsv(nan, marketBars(300), (cells, i) => {
      if (i === 10) cells[4] = 'NaN';
    });
    expectUserError(await signals(['train', '--run-id', 'nan', '--csv', nan, ...common]), 7, /non-finite .*nan\.csv:12 close: "NaN" is not a finite number/);
  });

  it('exit 8: a forced backend that cannot load', async () => {
    expectUserError(await signals(['infer', '--model', best, '--csv', csv], { TFJS_BACKEND: 'tensorflow' }), 8, /TFJS_BACKEND=tensorflow cannot be used here \(tensorflow: package not installed\)/);
  });

  it('exit 9: a corrupted weights file', async () => {
    const corrupt = join(dir.path, 'corrupt');
    await cp(best, corrupt, { recursive: true });
    const w = await readFile(join(corrupt, 'weights.bin'));
    w[3] = (w[3] ?? 0) ^ 0x10;
    await writeFile(join(corrupt, 'weights.bin'), w);
    expectUserError(await signals(['infer', '--model', corrupt, '--csv', csv]), 9, /checksum mismatch for .*corrupt\/weights\.bin/);
  });

  it('registers the best checkpoint in model_versions and infers from the registry version', async () => {
    const db = await TestDatabase.create('models_cli');
    try {
      const env = { DATABASE_URL: db.url };
      const pool = createPool(db.url, 1);
      await migrate(pool);
      const client = await pool.connect();
      try {
        const bars = marketBars(700, 15_000);
        await upsertBars(
          client,
          bars.map((b) => ({ venue: 'binance', symbol: 'BTCUSDT', interval: '1m' as const, source: 'replay' as const, ...b })),
        );
      } finally {
        client.release();
        await pool.end();
      }
      const art = join(dir.path, 'artifacts');
      const r = await signals(['train', '--run-id', 'reg', '--csv', csv, ...common, '--artifacts-dir', art, '--register', '--version', 'mlp-reg-1'], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/registered +version mlp-reg-1 \(scope global, role pretrained/);
      const fromDir = await signals(['infer', '--model', join(art, 'checkpoints/reg/best'), '--csv', csv]);
      const fromDb = await signals(['infer', '--version', 'mlp-reg-1', '--csv', csv], env);
      expect(fromDb.code, fromDb.stderr).toBe(0);
      expect(fromDb.stdout, 'the registry holds the same model as best/').toBe(fromDir.stdout);
      expectUserError(await signals(['infer', '--version', 'nope', '--csv', csv], env), 10, /model version "nope" is not in the registry/);

      // The same bars read from bars_1m train to the same model as from the CSV file.
      const fromBars = await signals(['train', '--run-id', 'db-run', '--venue', 'binance', '--symbol', 'BTCUSDT', ...common, '--artifacts-dir', art], env);
      expect(fromBars.code, fromBars.stderr).toBe(0);
      const dbMetrics = JSON.parse(await readFile(join(art, 'metrics/db-run.json'), 'utf8')) as { source: string; test: unknown };
      const csvMetrics = JSON.parse(await readFile(join(art, 'metrics/cli-ok.json'), 'utf8')) as { test: unknown };
      expect(dbMetrics.source).toBe('bars_1m binance/BTCUSDT');
      expect(dbMetrics.test, 'same bars, same seed -> same test metrics').toEqual(csvMetrics.test);
    } finally {
      await db.dispose();
    }
  });
});
