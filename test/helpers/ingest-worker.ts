// A marketSync process for crash tests: runs until SIGTERM/SIGINT (clean stop) or SIGKILL.
// Settings come from the environment (NATS_URL, DATABASE_URL, BAR_GRACE_MS, ...).
import { startMarketSync } from '../../actors/ingest/market-sync.ts';
import { createRootLogger, loadSettings } from '../../config/index.ts';
import { createPool } from '../../sql/index.ts';
import { connectNats } from '../../streams/index.ts';

const settings = loadSettings();
const log = createRootLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
const db = createPool(settings.DATABASE_URL);
const nc = await connectNats(settings, 'ingest-worker');
const sync = startMarketSync({ nc, db, settings, log });
await sync.ready();
process.stdout.write('ready\n');
const stop = async () => {
  await sync.stop();
  await nc.close();
  await db.end();
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
