// Backup, verify and restore times of an existing database, as `signals backup`,
// `signals backup verify` and `signals restore` do them:
//   npx tsx bench/backup.ts --database-url postgresql://postgres@127.0.0.1:5432/signals [--runs 3]
// Restores into a scratch database on the same server, dropped afterwards. The source
// database is only read.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { restoreBackup, takeBackup, verifyBackup } from '../ops/index.ts';

const { values } = parseArgs({ options: { 'database-url': { type: 'string' }, runs: { type: 'string', default: '3' } } });
const source = values['database-url'];
if (!source) throw new Error('give --database-url (the database to back up)');
const runs = Number(values.runs);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function admin(sql: string): Promise<void> {
  const u = new URL(source as string);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

const times = { backup: [] as number[], verify: [] as number[], restore: [] as number[] };
let summary = '';
for (let i = 0; i < runs; i += 1) {
  const dir = await mkdtemp(join(tmpdir(), 'bench-backup-'));
  const scratch = `signals_bench_restore_${process.pid}_${i}`;
  const target = new URL(source);
  target.pathname = `/${scratch}`;
  try {
    let t = performance.now();
    const m = await takeBackup(source, join(dir, 'b'));
    times.backup.push((performance.now() - t) / 1000);
    t = performance.now();
    const v = await verifyBackup(join(dir, 'b'));
    times.verify.push((performance.now() - t) / 1000);
    t = performance.now();
    const r = await restoreBackup(target.toString(), join(dir, 'b'));
    times.restore.push((performance.now() - t) / 1000);
    if (r.mismatches.length > 0) throw new Error(`restore differs from the backup: ${r.mismatches.join(', ')}`);
    const rows = Object.values(m.tables).reduce((a, s) => a + s.rows, 0);
    summary = `${Object.keys(m.tables).length} tables, ${rows.toLocaleString('en-US')} rows (ticks ${m.tables.ticks?.rows.toLocaleString('en-US') ?? '-'}, bars ${m.tables.bars_1m?.rows.toLocaleString('en-US') ?? '-'}, predictions ${m.tables.predictions?.rows.toLocaleString('en-US') ?? '-'}), archive ${(v.bytes / 1e6).toFixed(1)} MB in ${v.files} files`;
    console.log(`run ${i + 1}: backup ${times.backup.at(-1)?.toFixed(1)} s, verify ${times.verify.at(-1)?.toFixed(1)} s, restore (with the table check) ${times.restore.at(-1)?.toFixed(1)} s`);
  } finally {
    await admin(`DROP DATABASE IF EXISTS ${scratch} WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  }
}
console.log(summary);
console.log(`median of ${runs}: backup ${median(times.backup).toFixed(1)} s, verify ${median(times.verify).toFixed(1)} s, restore ${median(times.restore).toFixed(1)} s`);
