import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkout, countTicks, createPool, insertTicksIsolating, isDataDbError, migrate, type Db } from '../../../../sql/index.ts';
import type { Tick } from '../../../../streams/index.ts';
import { TestDatabase } from '../../../helpers/postgres.ts';

const M0 = Date.UTC(2024, 2, 1);
const tick = (i: number, tradeId = `t${i}`): Tick => ({ venue: 'v', symbol: 'REFUSE', ts: M0 + i * 1000, price: 1 + i, size: 1, tradeId });

describe('ticks PostgreSQL refuses', () => {
  let database: TestDatabase;
  let db: Db;

  beforeAll(async () => {
    database = await TestDatabase.create('refused');
    db = createPool(database.url);
    await migrate(db);
    await db.query(`ALTER TABLE ticks ADD CONSTRAINT refuse_poison CHECK (trade_id NOT LIKE 'poison%')`);
  });
  afterAll(async () => {
    await db?.end();
    await database?.dispose();
  });

  it('are set aside one by one while every other tick of the batch is stored, in one transaction', async () => {
    const poison = new Set([0, 37, 38, 99]);
    const ticks = Array.from({ length: 100 }, (_, i) => tick(i, poison.has(i) ? `poison-${i}` : `t${i}`));
    const client = await checkout(db);
    try {
      await client.query('BEGIN');
      const r = await insertTicksIsolating(client, ticks);
      await client.query('COMMIT');
      expect(r.stored).toBe(96);
      expect(r.refused.map((x) => x.tick.tradeId)).toEqual(['poison-0', 'poison-37', 'poison-38', 'poison-99']);
      expect(r.refused[0]?.error).toMatch(/refuse_poison/);
    } finally {
      client.done();
    }
    expect(await countTicks(db, 'v', 'REFUSE')).toBe(96);
  });

  it('only data errors count as refusals', () => {
    expect(isDataDbError(Object.assign(new Error('check'), { code: '23514' }))).toBe(true);
    expect(isDataDbError(Object.assign(new Error('out of range'), { code: '22003' }))).toBe(true);
    expect(isDataDbError(Object.assign(new Error('index row too big'), { code: '54000' }))).toBe(true);
    expect(isDataDbError(Object.assign(new Error('conn'), { code: '08006' }))).toBe(false);
    expect(isDataDbError(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(false);
    expect(isDataDbError(new Error('ECONNRESET'))).toBe(false);
  });
});
