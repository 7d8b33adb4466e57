import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the tests use: TEST_PG_URL, else the local default (trust auth). */
export function adminUrl(): string {
  return process.env.TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

/** A fresh database for one test file, dropped by `dispose()`. */
export class TestDatabase {
  private constructor(
    readonly name: string,
    readonly url: string,
  ) {}

  static async create(label = 't'): Promise<TestDatabase> {
    const name = `signals_test_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(adminUrl());
    url.pathname = `/${name}`;
    return new TestDatabase(name, url.toString());
  }

  async dispose(): Promise<void> {
    const admin = new pg.Client({ connectionString: adminUrl() });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

/** Runs one statement on the server's admin database (for outage tests on a test database). */
export async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}
