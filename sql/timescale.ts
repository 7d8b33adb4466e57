import type pg from 'pg';

/**
 * Whether the migrations may use TimescaleDB. When not, `reason` says why, and
 * `needsAdministrator` is true when the server has the extension but it cannot be
 * used until someone with more rights than this role acts once (the migrations
 * then log one warning and go on with plain PostgreSQL).
 */
export type TimescaleSupport =
  | { available: true; installed: boolean; version: string; license: string }
  | { available: false; reason: string; needsAdministrator: boolean };

/**
 * What the server says about TimescaleDB, read with queries any role that may
 * connect can run (see `detectTimescale`). The input of `decideTimescale`.
 */
export type TimescaleFacts = {
  /** current_database(), for the messages. */
  database: string;
  /** pg_extension: the version installed in this database, if any. */
  installedVersion: string | undefined;
  /** pg_available_extensions: the default version the server offers, if any. */
  availableVersion: string | undefined;
  /** pg_roles.rolsuper of current_user. */
  superuser: boolean;
  /** The extension is marked trusted: a non-superuser with CREATE on the database may create it. */
  trusted: boolean;
  /** has_database_privilege(current_database(), 'CREATE'). */
  createOnDatabase: boolean;
  /**
   * shared_preload_libraries, or undefined when this role may not read it: pg_settings
   * leaves out superuser-only settings for roles without pg_read_all_settings, where
   * `SHOW` would raise an error instead.
   */
  preloadLibraries: string | undefined;
  /** timescaledb.license, 'apache' when not readable. */
  license: string;
};

const ADMIN_STEP = 'an administrator must run CREATE EXTENSION timescaledb (needs superuser and shared_preload_libraries)';
const PRELOAD_STEP = 'an administrator must add timescaledb to shared_preload_libraries and restart PostgreSQL';

function preloaded(libraries: string): boolean {
  const libs = libraries.split(',').map((s) => s.trim().replace(/^"|"$/g, ''));
  return libs.some((l) => l === 'timescaledb' || l.startsWith('timescaledb-'));
}

/**
 * The decision, from the facts alone (pure, so every branch is testable without a
 * TimescaleDB server):
 * - not offered by the server: plain PostgreSQL;
 * - installed in this database: use it, unless the preload setting is readable and
 *   lacks it (it cannot work then); an unreadable setting is no reason to doubt an
 *   installation an administrator made, since CREATE EXTENSION needs the preload;
 * - offered but not installed: create it only when this role may (superuser, or a
 *   trusted extension and CREATE on the database) and the preload setting is
 *   readable and names it, because CREATE EXTENSION without the preload is a FATAL
 *   error that drops the connection; otherwise plain PostgreSQL, and an
 *   administrator has to act.
 */
export function decideTimescale(facts: TimescaleFacts): TimescaleSupport {
  const { installedVersion, availableVersion, preloadLibraries } = facts;
  if (installedVersion === undefined && availableVersion === undefined) {
    return { available: false, reason: 'timescaledb is not in pg_available_extensions', needsAdministrator: false };
  }
  const isPreloaded = preloadLibraries === undefined ? undefined : preloaded(preloadLibraries);
  if (installedVersion !== undefined) {
    if (isPreloaded === false) {
      return {
        available: false,
        reason: `timescaledb ${installedVersion} is installed in database ${facts.database} but is not in shared_preload_libraries; ${PRELOAD_STEP}`,
        needsAdministrator: true,
      };
    }
    return { available: true, installed: true, version: installedVersion, license: facts.license };
  }
  const version = availableVersion ?? 'unknown';
  const notInstalled = `TimescaleDB ${version} is available but not installed in database ${facts.database}`;
  const mayCreate = facts.superuser || (facts.trusted && facts.createOnDatabase);
  if (!mayCreate) return { available: false, reason: `${notInstalled}; ${ADMIN_STEP}`, needsAdministrator: true };
  if (isPreloaded === undefined) {
    return {
      available: false,
      reason: `${notInstalled} and this role may not read shared_preload_libraries to check it is preloaded; ${ADMIN_STEP}`,
      needsAdministrator: true,
    };
  }
  if (!isPreloaded) return { available: false, reason: `${notInstalled}: timescaledb is not in shared_preload_libraries; ${PRELOAD_STEP}`, needsAdministrator: true };
  return { available: true, installed: false, version, license: facts.license };
}

/**
 * Finds out whether TimescaleDB can be used, without ever issuing a
 * `CREATE EXTENSION` that would fail (a missing shared_preload_libraries entry
 * makes that a FATAL error that drops the connection), and without any query a
 * role that merely owns its database may not run: no `SHOW` of a superuser-only
 * setting, only catalog views that answer every role.
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
  // `trusted` is read through to_jsonb so that servers older than PostgreSQL 13
  // (no such column) answer null instead of an error.
  const role = await client.query<{ database: string; superuser: boolean | null; create_on_database: boolean; trusted: boolean | null; preload: string | null }>(
    `SELECT current_database() AS database,
            (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
            has_database_privilege(current_database(), 'CREATE') AS create_on_database,
            (SELECT (to_jsonb(v) ->> 'trusted')::boolean FROM pg_available_extension_versions v
              WHERE v.name = 'timescaledb' AND v.version = $1) AS trusted,
            (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload`,
    [availableVersion ?? installedVersion ?? null],
  );
  const row = role.rows[0];
  return decideTimescale({
    database: row?.database ?? '',
    installedVersion,
    availableVersion,
    superuser: row?.superuser === true,
    trusted: row?.trusted === true,
    createOnDatabase: row?.create_on_database === true,
    preloadLibraries: row?.preload ?? undefined,
    license: await readLicense(client),
  });
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
