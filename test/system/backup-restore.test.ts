import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KV_BUCKETS, modelActiveSchema, openBucket, connectNats } from '../../streams/index.ts';
import { loadSettings } from '../../config/index.ts';
import { readManifest } from '../../ops/index.ts';
import { NatsServer } from '../helpers/nats-server.ts';
import { TestDatabase } from '../helpers/postgres.ts';
import { marketBars, tempDir, writeBarsCsv } from '../support/models/fixtures.ts';
import { runCli } from './harness.ts';

const BARS = 150;
const FIRST = 120;

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

const count = async (url: string, table: string): Promise<number> => Number((await query<{ n: string }>(url, `SELECT count(*)::text AS n FROM ${table}`))[0]?.n);

async function activeVersions(url: string): Promise<string[]> {
  return (await query<{ version: string }>(url, `SELECT version FROM model_versions WHERE status = 'active' ORDER BY version`)).map((r) => r.version);
}

/**
 * The restore drill: a system runs on a replay, is backed up while its database is
 * live, the backup is verified (and a tampered copy refused), restored into a new
 * database, compared table by table, and `signals run` goes on from the restored
 * database beside a brand-new NATS: the same active versions, and a longer replay
 * of the same feed adds only the new minutes.
 */
describe('backup and restore drill', () => {
  let dir: { path: string; dispose: () => Promise<void> };
  let nats: NatsServer;
  let fresh: NatsServer | undefined;
  let source: TestDatabase;
  let target: TestDatabase;
  let full: string;
  let first: string;

  beforeAll(async () => {
    [dir, nats, source, target] = await Promise.all([tempDir('backup'), NatsServer.start(), TestDatabase.create('bk_src'), TestDatabase.create('bk_dst')]);
    const bars = marketBars(BARS, 0, { seed: 21 });
    full = join(dir.path, 'full.csv');
    first = join(dir.path, 'first.csv');
    await writeBarsCsv(full, bars);
    await writeBarsCsv(first, bars.slice(0, FIRST));
  });
  afterAll(async () => {
    await Promise.all([nats?.dispose(), fresh?.dispose(), source?.dispose(), target?.dispose()]);
    await dir?.dispose();
  });

  it('backs up what the system wrote, verifies it, restores it exactly, and the system goes on from it', async () => {
    const env = (db: TestDatabase, n: NatsServer) => ({ NATS_URL: n.url, DATABASE_URL: db.url, BAR_GRACE_MS: '500', METRICS_PORT: '0', LOG_LEVEL: 'warn', BACKUP_DIR: join(dir.path, 'scheduled') });
    const run1 = await runCli(['run', '--csv', first, '--symbol', 'BKUP', '--venue', 'drill', '--exit-after-replay'], env(source, nats));
    expect(run1.code, run1.out.slice(-2_000)).toBe(0);
    expect(await count(source.url, 'ticks')).toBe(FIRST * 4);
    const versions = await activeVersions(source.url);
    expect(versions.length, 'Phase 1 activated pretrained versions').toBeGreaterThan(0);

    const out = join(dir.path, 'b1');
    const backup = await runCli(['backup', '--out', out], env(source, nats));
    expect(backup.code, backup.out).toBe(0);
    expect(backup.out).toMatch(/^\s+ticks\s+480 rows\s+md5 [0-9a-f]{32}$/m);
    const manifest = await readManifest(out);
    expect(manifest.tables.bars_1m?.rows).toBe(FIRST);
    expect(Object.keys(manifest.tables)).toEqual(expect.arrayContaining(['ticks', 'bars_1m', 'predictions', 'model_versions', 'model_deployments', 'retrain_runs', 'actor_snapshots', 'data_gaps', 'quality_reports']));

    const verify = await runCli(['backup', 'verify', out], env(source, nats));
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toMatch(/sha256 verified/);
    // A copy with one byte changed in its largest file is refused with exit 9.
    const tampered = join(dir.path, 'tampered');
    await cp(out, tampered, { recursive: true });
    const largest = manifest.files.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const bytes = await readFile(join(tampered, largest.path));
    const at = Math.floor(bytes.length / 2);
    bytes[at] = (bytes[at] ?? 0) ^ 0xff;
    await writeFile(join(tampered, largest.path), bytes);
    const bad = await runCli(['backup', 'verify', tampered], env(source, nats));
    expect(bad.code, bad.out).toBe(9);
    expect(bad.out).toMatch(new RegExp(`${largest.path.replace(/[.]/g, '\\.')}: sha256`));

    // A database with tables is refused without --force.
    const refused = await runCli(['restore', out], env(source, nats));
    expect(refused.code, refused.out).toBe(2);
    expect(refused.out).toMatch(/is not empty/);

    const restore = await runCli(['restore', out], env(target, nats));
    expect(restore.code, restore.out).toBe(0);
    expect(restore.out).not.toMatch(/MISMATCH/);
    // Independently of the manifest: the same rows in both databases, table by table.
    for (const table of Object.keys(manifest.tables)) {
      const digest = (url: string) =>
        query<{ n: string; h: string }>(url, `SELECT count(*)::text AS n, md5(coalesce(string_agg(md5(t::text), '' ORDER BY md5(t::text)), '')) AS h FROM public."${table}" t`);
      expect(await digest(target.url), table).toEqual(await digest(source.url));
    }

    // Everything else lost too: a new, empty NATS. The restored registry is what serves.
    fresh = await NatsServer.start();
    const run2 = await runCli(['run', '--csv', full, '--symbol', 'BKUP', '--venue', 'drill', '--exit-after-replay'], env(target, fresh));
    expect(run2.code, run2.out.slice(-2_000)).toBe(0);
    expect(run2.out).toMatch(/\| phase 1\s+\| skipped: pretrained versions already active/);
    expect(run2.out).toMatch(new RegExp(`\\| duplicates ignored\\s+\\| ${FIRST * 4}\\s+\\|`));
    expect(await activeVersions(target.url), 'the same active versions').toEqual(versions);
    const nc = await connectNats(loadSettings({}, { NATS_URL: fresh.url }), 'drill');
    try {
      const kv = await openBucket(nc, KV_BUCKETS.modelActive);
      const entry = modelActiveSchema.parse((await kv.get('default'))?.json());
      const served = Object.values(entry.pretrained);
      expect(served.length, 'KV model_active rewritten from the restored registry').toBeGreaterThan(0);
      expect(served.every((v) => versions.includes(v)), `${served.join(', ')} are among ${versions.join(', ')}`).toBe(true);
    } finally {
      await nc.close();
    }
    expect(await count(target.url, 'ticks'), 'every tick once').toBe(BARS * 4);
    expect(await count(target.url, 'bars_1m'), 'every bar once').toBe(BARS);
    const predicted = await query<{ n: string; d: string }>(target.url, `SELECT count(*)::text AS n, count(DISTINCT ts)::text AS d FROM predictions`);
    expect(predicted[0]?.n, 'one prediction per bar').toBe(predicted[0]?.d);
    expect(Number(predicted[0]?.n)).toBeGreaterThan(Number(manifest.tables.predictions?.rows));
    expect(await readdir(join(dir.path)), 'no scheduled backup ran during the test').not.toContain('scheduled');
  }, 240_000);
});
