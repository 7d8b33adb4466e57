import type { NatsConnection } from '@nats-io/transport-node';
import { loadSettings, createRootLogger, type Settings, type Logger } from '../../config/index.ts';
import { createPool, migrate, type Db } from '../../sql/index.ts';
import { connectNats } from '../../streams/index.ts';
import { NatsServer } from './nats-server.ts';
import { TestDatabase } from './postgres.ts';

/** A private nats-server + database, migrated, with settings pointing at both. */
export type TestSystem = {
  nats: NatsServer;
  database: TestDatabase;
  settings: Settings;
  nc: NatsConnection;
  db: Db;
  log: Logger;
  dispose(): Promise<void>;
};

export async function startTestSystem(
  label: string,
  overrides: Partial<Record<keyof Settings, string | number | boolean>> = {},
): Promise<TestSystem> {
  const [nats, database] = await Promise.all([NatsServer.start(), TestDatabase.create(label)]);
  const settings = loadSettings({}, { NATS_URL: nats.url, DATABASE_URL: database.url, LOG_LEVEL: 'warn', METRICS_PORT: 0, ...overrides });
  const log = createRootLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
  const db = createPool(settings.DATABASE_URL);
  await migrate(db);
  const nc = await connectNats(settings, `test-${label}`);
  return {
    nats,
    database,
    settings,
    nc,
    db,
    log,
    async dispose() {
      await nc.close().catch(() => undefined);
      await db.end().catch(() => undefined);
      await Promise.all([nats.dispose(), database.dispose()]);
    },
  };
}
