import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { z } from 'zod';

export const MANIFEST_FILE = 'manifest.json';
/** pg_dump's directory-format archive, inside a backup directory. */
export const DUMP_DIR = 'db';

const tableStats = z.strictObject({ rows: z.number().int().nonnegative(), md5: z.string().regex(/^[0-9a-f]{32}$/) });
export type TableStats = z.output<typeof tableStats>;

/** `manifest.json` of a backup: what was dumped, from where, and how to check it. */
export const manifestSchema = z.strictObject({
  format: z.literal('signals-backup'),
  version: z.literal(1),
  createdAt: z.number().int(),
  /** Seconds the backup took (snapshot, dump, checksums). */
  seconds: z.number().nonnegative(),
  database: z.strictObject({ name: z.string(), serverVersion: z.string(), timescale: z.boolean() }),
  /** Every table of the `public` schema, counted and hashed in the snapshot pg_dump read. */
  tables: z.record(z.string(), tableStats),
  files: z.array(z.strictObject({ path: z.string(), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
export type Manifest = z.output<typeof manifestSchema>;
export type ManifestFile = Manifest['files'][number];

export function sha256File(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Size and sha256 of every file under `root/sub`, paths relative to `root`. */
export async function describeFiles(root: string, sub: string): Promise<ManifestFile[]> {
  const out: ManifestFile[] = [];
  for (const path of await filesUnder(join(root, sub))) {
    out.push({ path: relative(root, path), bytes: (await stat(path)).size, sha256: await sha256File(path) });
  }
  return out;
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(manifestSchema.parse(m), null, 2)}\n`);
}

/** The manifest of a backup directory; throws a ZodError or a file error when it is not one. */
export async function readManifest(dir: string): Promise<Manifest> {
  return manifestSchema.parse(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')));
}
