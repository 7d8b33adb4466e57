import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger } from '../../../config/index.ts';
import { pruneBackups, restoreBackup, scheduledBackup, scheduledBackupName, takeBackup, type Alerter } from '../../../ops/index.ts';
import { createPool, type Db } from '../../../sql/index.ts';
import { TestDatabase } from '../../helpers/postgres.ts';
import { tempDir } from '../../support/models/fixtures.ts';

const log = createRootLogger('silent');

async function exec(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

describe('backups', () => {
  let dir: { path: string; dispose: () => Promise<void> };
  let src: TestDatabase;
  let db: Db;
  beforeAll(async () => {
    [dir, src] = await Promise.all([tempDir('backup-it'), TestDatabase.create('bk_it')]);
    await exec(src.url, `CREATE TABLE items (id serial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now());
                         INSERT INTO items (v) SELECT 'row ' || g FROM generate_series(1, 2000) g`);
    db = createPool(src.url, 2);
  });
  afterAll(async () => {
    await db?.end();
    await src?.dispose();
    await dir?.dispose();
  });

  it('is one snapshot: rows written during the backup are in neither the dump nor the manifest, and the restore matches the manifest', async () => {
    const writer = new pg.Client({ connectionString: src.url });
    await writer.connect();
    let writing = true;
    let written = 0;
    const loop = (async () => {
      while (writing) {
        await writer.query(`INSERT INTO items (v) SELECT 'late ' || g FROM generate_series(1, 50) g`);
        written += 50;
      }
    })();
    let manifestRows: number | undefined;
    try {
      // Let the writer get going, so the snapshot falls in the middle of its inserts.
      while (written < 500) await new Promise((r) => setTimeout(r, 5));
      const m = await takeBackup(src.url, join(dir.path, 'live'));
      manifestRows = m.tables.items?.rows;
      const during = written;
      while (written < during + 500) await new Promise((r) => setTimeout(r, 5));
    } finally {
      writing = false;
      await loop;
      await writer.end();
    }
    const final = 2000 + written;
    expect(manifestRows).toBeGreaterThan(2000);
    expect(manifestRows, 'inserts went on after the snapshot').toBeLessThan(final);
    const dst = await TestDatabase.create('bk_it_dst');
    try {
      const r = await restoreBackup(dst.url, join(dir.path, 'live'));
      expect(r.mismatches).toEqual([]);
      expect(r.tables.find((t) => t.table === 'items')?.restored?.rows).toBe(manifestRows);
    } finally {
      await dst.dispose();
    }
  });

  it('keeps the newest complete backups and never touches anything else', async () => {
    const root = join(dir.path, 'retention');
    await mkdir(root, { recursive: true });
    const names = [0, 1, 2].map((d) => scheduledBackupName(Date.UTC(2026, 0, 1 + d, 2, 30)));
    for (const n of names) await takeBackup(src.url, join(root, n));
    await mkdir(join(root, 'backup-partial-no-manifest'));
    await mkdir(join(root, 'notes'));
    await writeFile(join(root, 'notes', 'keep.txt'), 'mine');
    const deleted = await pruneBackups(root, 2);
    expect(deleted).toEqual([names[0]]);
    expect((await readdir(root)).sort()).toEqual(['backup-partial-no-manifest', names[1], names[2], 'notes'].sort());
  });

  it('a scheduled backup that fails raises backup_failed and leaves no partial directory; a second process skips', async () => {
    const raised: { kind: string; message: string }[] = [];
    const alert: Alerter = async (kind, payload) => {
      raised.push({ kind, message: payload.message });
      return true;
    };
    const root = join(dir.path, 'scheduled');
    const at = Date.UTC(2026, 0, 10, 2, 30);
    // pg_dump of a database that does not exist fails after the directory was made.
    const missing = new URL(src.url);
    missing.pathname = '/signals_no_such_database_for_backup';
    const failed = await scheduledBackup({ db, databaseUrl: missing.toString(), root, keep: 3, log, alert }, at);
    expect(failed.status).toBe('failed');
    expect(raised.map((r) => r.kind)).toEqual(['backup_failed']);
    expect(raised[0]?.message).toMatch(/scheduled backup failed: .*signals_no_such_database_for_backup/);
    expect(await readdir(root).catch(() => []), 'the partial directory is removed').toEqual([]);

    // Another process holds the schedule's lock: this one skips.
    const other = new pg.Client({ connectionString: src.url });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock(5162024)');
      const skipped = await scheduledBackup({ db, databaseUrl: src.url, root, keep: 3, log, alert }, at);
      expect(skipped).toMatchObject({ status: 'skipped', reason: 'another process is taking the backup' });
    } finally {
      await other.end();
    }
    const taken = await scheduledBackup({ db, databaseUrl: src.url, root, keep: 3, log, alert }, at);
    expect(taken).toMatchObject({ status: 'taken', dir: join(root, scheduledBackupName(at)) });
    const again = await scheduledBackup({ db, databaseUrl: src.url, root, keep: 3, log, alert }, at);
    expect(again.status, 'the same scheduled time is taken once').toBe('skipped');
    expect(raised.length).toBe(1);
  });
});
