import type pg from 'pg';

export type TimescaleSupport =
  | { available: true; installed: boolean; version: string; license: string }
  | { available: false; reason: string };

/**
 * Finds out whether TimescaleDB can be used, without ever issuing a
 * `CREATE EXTENSION` that would fail: a missing shared_preload_libraries entry
 * makes that a FATAL error that drops the connection. Checks, in order: the
 * extension is already installed; it is available as a package; it is preloaded.
 */
export async function detectTimescale(client: pg.ClientBase): Promise<TimescaleSupport> {
  const installed = await client.query<{ extversion: string }>(
    "SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'",
  );
  const available = await client.query<{ default_version: string }>(
    "SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'",
  );
  const installedVersion = installed.rows[0]?.extversion;
  const availableVersion = available.rows[0]?.default_version;
  if (installedVersion === undefined && availableVersion === undefined) {
    return { available: false, reason: 'timescaledb is not in pg_available_extensions' };
  }
  const preload = await client.query<{ shared_preload_libraries: string }>('SHOW shared_preload_libraries');
  const libs = (preload.rows[0]?.shared_preload_libraries ?? '').split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
  if (!libs.some((l) => l === 'timescaledb' || l.startsWith('timescaledb-'))) {
    return { available: false, reason: 'timescaledb is not in shared_preload_libraries' };
  }
  const license = await readLicense(client);
  return {
    available: true,
    installed: installedVersion !== undefined,
    version: installedVersion ?? availableVersion ?? 'unknown',
    license,
  };
}

async function readLicense(client: pg.ClientBase): Promise<string> {
  try {
    const r = await client.query<{ setting: string }>(
      "SELECT setting FROM pg_settings WHERE name = 'timescaledb.license'",
    );
    return r.rows[0]?.setting ?? 'apache';
  } catch {
    return 'apache';
  }
}
