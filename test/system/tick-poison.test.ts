import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMarketSync } from '../../actors/ingest/market-sync.ts';
import { countTicks } from '../../sql/index.ts';
import { deadLetterSchema, msgIds, publishPipelined, subjects } from '../../streams/index.ts';
import { eventually, readStream } from '../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../helpers/system.ts';

const T0 = Date.UTC(2024, 2, 1);

/**
 * A tick that passes the schema but that PostgreSQL cannot store (a NUL
 * character in a text field) used to fail its whole batch on every retry:
 * marketSync stayed degraded forever and no later tick was stored. It must be
 * dead-lettered at validation like any other malformed tick.
 */
describe('a tick PostgreSQL cannot store', () => {
  let sys: TestSystem;
  beforeAll(async () => {
    sys = await startTestSystem('faults_nul', { RETRY_MIN_MS: 50, RETRY_MAX_MS: 200 });
  });
  afterAll(async () => {
    await sys?.dispose();
  });

  it('a NUL in tradeId is dead-lettered with a reason; the ticks around it are stored', async () => {
    const sync = startMarketSync({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log });
    try {
      await sync.ready();
      const tick = (i: number, tradeId: string) => ({
        subject: subjects.tick('nulv', 'BTCUSDT'),
        payload: { venue: 'nulv', symbol: 'BTCUSDT', ts: T0 + i * 1_000, price: 100 + i, size: 1, tradeId },
        msgId: msgIds.tick('nulv', 'BTCUSDT', tradeId),
      });
      await publishPipelined(jetstream(sys.nc), [tick(0, 't0'), tick(1, 't1'), tick(2, 'bad\u0000id'), tick(3, 't3'), tick(4, 't4')]);
      await eventually(async () => (await countTicks(sys.db, 'nulv')) === 4, 10_000, 'the 4 good ticks stored').catch((err: unknown) => {
        throw new Error(`${(err as Error).message}; marketSync is ${JSON.stringify(sync.actor.getSnapshot().value)} (${sync.actor.getSnapshot().context.lastError ?? ''})`);
      });
      const dlq = await readStream(sys.nc, 'MD_DLQ', 'md.invalid.nulv.>');
      expect(dlq.length, 'the bad tick is dead-lettered once').toBe(1);
      const letter = deadLetterSchema.safeParse(dlq[0]?.data);
      expect(letter.success && letter.data.reason).toBe('schema');
      expect(letter.success && letter.data.issues.join(' ')).toMatch(/tradeId/);
      expect(sync.actor.getSnapshot().matches({ running: 'live' }), 'marketSync is live, not degraded').toBe(true);
    } finally {
      await sync.stop();
    }
  }, 30_000);
});
