import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../sql/index.ts';
import { marketBars, writeBarsCsv } from '../support/models/fixtures.ts';
import { NatsServer } from '../helpers/nats-server.ts';
import { adminQuery, adminUrl } from '../helpers/postgres.ts';

const BARS = 150;

function runCli(args: string[], env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ['bin/signals.js', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // A hung run fails its test instead of holding the file. The replay takes about 20 s
    // (most of it Phase 1 pretraining); the margin is for a machine busy with other work.
    const killer = setTimeout(() => child.kill('SIGKILL'), 80_000);
    child.on('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A connection URL for `role`; the test server trusts local logins, so a password is only there to be hidden. */
function urlAs(role: string, database: string, password = ''): string {
  const url = new URL(adminUrl());
  url.username = role;
  url.password = password;
  url.pathname = `/${database}`;
  return url.toString();
}

/** The value of one row of the summary table, e.g. `| bars closed | 150 |`. */
function summaryValue(stdout: string, row: string): number {
  const m = new RegExp(`^\\| ${row}\\s+\\| ([\\d,]+)\\s+\\|`, 'm').exec(stdout);
  return m?.[1] === undefined ? Number.NaN : Number(m[1].replace(/,/g, ''));
}

/** A start-up failure as the user sees it: its exit code, one line on stderr, no stack, no password. */
function expectOneLineError(r: { code: number | null; stderr: string }, password: string): void {
  expect(r.code, r.stderr).toBe(8);
  const lines = r.stderr.trim().split('\n');
  expect(lines, 'exactly one line on stderr').toHaveLength(1);
  expect(lines[0]).toMatch(/^signals: PostgreSQL at /);
  expect(r.stderr, 'no "internal error"').not.toMatch(/internal error/);
  expect(r.stderr, 'no stack frames').not.toMatch(/^\s*at .+:\d+:\d+\)?$/m);
  expect(r.stderr, 'the password is never printed').not.toContain(password);
}

describe('signals run as a least-privileged role that owns its database (real CLI, real servers)', () => {
  const suffix = randomBytes(4).toString('hex');
  const owner = `signals_app_${suffix}`;
  const guest = `signals_guest_${suffix}`;
  const nologin = `signals_nologin_${suffix}`;
  const ownDb = `signals_test_lprun_${suffix}`;
  const foreignDb = `signals_test_lpfor_${suffix}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  let nats: NatsServer;
  let dir: string;
  let csv: string;
  type Result = Awaited<ReturnType<typeof runCli>>;
  // The four runs are independent (own database, or failing at start-up): started
  // together in beforeAll, awaited by their tests, so the file takes as long as the longest.
  const runs = new Map<string, Promise<Result>>();
  const run = (name: string): Promise<Result> => {
    const r = runs.get(name);
    if (!r) throw new Error(`no run ${name}`);
    return r;
  };

  beforeAll(async () => {
    nats = await NatsServer.start();
    await adminQuery(`CREATE ROLE ${owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await adminQuery(`CREATE ROLE ${guest} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await adminQuery(`CREATE ROLE ${nologin} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`);
    await adminQuery(`CREATE DATABASE ${ownDb} OWNER ${owner}`);
    await adminQuery(`CREATE DATABASE ${foreignDb}`);
    dir = mkdtempSync(join(tmpdir(), 'signals-lp-'));
    csv = join(dir, 'market.csv');
    await writeBarsCsv(csv, marketBars(BARS, 0));
    const env = { NATS_URL: nats.url, BAR_GRACE_MS: '500', LOG_LEVEL: 'info', METRICS_PORT: '0' };
    const replay = (databaseUrl: string) =>
      runCli(['run', '--exit-after-replay', '--csv', csv, '--symbol', 'BTCUSDT', '--venue', 'binance'], { ...env, DATABASE_URL: databaseUrl });
    runs.set('owner', replay(urlAs(owner, ownDb, password)));
    runs.set('nologin', replay(urlAs(nologin, ownDb, password)));
    runs.set('guest', replay(urlAs(guest, foreignDb, password)));
    runs.set('missing', replay(urlAs(owner, `signals_test_lpnone_${suffix}`, password)));
  });
  afterAll(async () => {
    await Promise.all(runs.values());
    await nats?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    for (const db of [ownDb, foreignDb]) await adminQuery(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    for (const role of [owner, guest, nologin]) await adminQuery(`DROP ROLE IF EXISTS ${role}`);
  });

  it(`replays ${BARS} market bars to predictions stored in its own database, exit 0`, async () => {
    const r = await run('owner');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr, 'no internal error').not.toMatch(/internal error/);
    expect(summaryValue(r.stdout, 'ticks stored'), r.stdout).toBeGreaterThan(0);
    expect(summaryValue(r.stdout, 'bars closed'), r.stdout).toBe(BARS);
    expect(summaryValue(r.stdout, 'predictions'), r.stdout).toBeGreaterThan(0);
    expect(`${r.stdout}${r.stderr}`, 'the password is never printed').not.toContain(password);

    const db = createPool(urlAs(owner, ownDb), 1);
    try {
      const stored = await db.query<{ n: number; owner: string }>(
        `SELECT count(*)::int AS n, (SELECT tableowner FROM pg_tables WHERE schemaname = 'public' AND tablename = 'predictions') AS owner
         FROM predictions WHERE venue = 'binance' AND symbol = 'BTCUSDT'`,
      );
      expect(stored.rows[0]?.n, 'predictions of this run are stored').toBeGreaterThan(0);
      expect(stored.rows[0]?.owner, 'in tables the application role created and owns').toBe(owner);
    } finally {
      await db.end();
    }
  }, 90_000);

  it('a role that may not log in: exit 8, one line on stderr, no stack, no password', async () => {
    const r = await run('nologin');
    expectOneLineError(r, password);
    expect(r.stderr).toMatch(new RegExp(`role "${nologin}" is not permitted to log in`));
  });

  it('a role without the privileges the migrations need: exit 8, one line naming the grant', async () => {
    const r = await run('guest');
    expectOneLineError(r, password);
    expect(r.stderr).toMatch(/permission denied for schema public/);
    expect(r.stderr).toMatch(/Database roles and grants/);
  });

  it('a missing database the role may not create: exit 8, one line saying an administrator must create it', async () => {
    const r = await run('missing');
    expectOneLineError(r, password);
    expect(r.stderr).toMatch(/must be created by an administrator: CREATE DATABASE/);
  });
});
