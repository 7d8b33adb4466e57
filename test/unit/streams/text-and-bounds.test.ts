import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseFlags } from '../../../cli/command.ts';
import { UsageError } from '../../../cli/errors.ts';
import { readBarsCsv } from '../../../market/bars-csv.ts';
import {
  barSchema,
  decodeJson,
  formatIssues,
  MAX_BAR_TRADES,
  MAX_BAR_VOLUME,
  MAX_PRICE,
  MAX_SIZE,
  modelActiveSchema,
  retrainCommandSchema,
  text,
  textProblem,
  tickSchema,
} from '../../../streams/index.ts';

const T0 = Date.UTC(2024, 2, 1);
const tick = { venue: 'v', symbol: 'S', ts: T0, price: 1, size: 1, tradeId: 't' };
const bar = { venue: 'v', symbol: 'S', interval: '1m', ts: T0, open: 1, high: 2, low: 1, close: 2, volume: 1, source: 'live' };
const issues = (schema: { safeParse(v: unknown): { success: boolean; error?: unknown } }, value: unknown): string[] => {
  const r = schema.safeParse(value);
  return r.success ? [] : formatIssues(r.error as Parameters<typeof formatIssues>[0]);
};

describe('well-formed text (no lone surrogate, no NUL)', () => {
  it('textProblem finds lone surrogates and NUL, and accepts surrogate pairs', () => {
    expect(textProblem('plain')).toBeUndefined();
    expect(textProblem('emoji \ud83d\ude00 pair')).toBeUndefined();
    expect(textProblem('')).toBeUndefined();
    expect(textProblem('a\ud800')).toBe('must be well-formed Unicode (lone surrogate at index 1)');
    expect(textProblem('ab\udc00c')).toBe('must be well-formed Unicode (lone surrogate at index 2)');
    expect(textProblem('\ud83d\ude00\ud83d')).toBe('must be well-formed Unicode (lone surrogate at index 2)');
    expect(textProblem('\udc00\ud800'), 'a low then a high surrogate is no pair').toBe('must be well-formed Unicode (lone surrogate at index 0)');
    expect(textProblem('a\u0000b')).toBe('must not contain NUL (U+0000) (at index 1)');
  });

  it('text() is a chainable zod string', () => {
    const id = text().min(1).max(3);
    expect(id.safeParse('ab').success).toBe(true);
    expect(id.safeParse('abcd').success).toBe(false);
    expect(issues(id, 'a\ud800')).toEqual(['(root): must be well-formed Unicode (lone surrogate at index 1)']);
  });

  it('a tick whose tradeId has a lone surrogate (valid JSON escape) is a schema dead letter naming tradeId', () => {
    const raw = new TextEncoder().encode('{"venue":"v","symbol":"S","ts":1709251200000,"price":1,"size":1,"tradeId":"a\\ud800"}');
    const r = decodeJson(tickSchema, raw, 4096);
    expect(r).toEqual({ ok: false, reason: 'schema', issues: ['tradeId: must be well-formed Unicode (lone surrogate at index 1)'] });
    expect(issues(tickSchema, { ...tick, tradeId: 'x\u0000' })).toEqual(['tradeId: must not contain NUL (U+0000) (at index 1)']);
    expect(issues(tickSchema, { ...tick, venue: 'v\ud800' })).toEqual(['venue: must match [A-Za-z0-9_-]{1,32}']);
    expect(issues(tickSchema, { ...tick, side: 'buy\ud800' })).toHaveLength(1);
    expect(tickSchema.parse({ ...tick, tradeId: 'ok \ud83d\ude00' }).tradeId).toBe('ok \ud83d\ude00');
  });

  it('retrain commands: every string, nested ones in config and keys too', () => {
    const cmd = { requestId: 'r1', trigger: 'manual' };
    expect(retrainCommandSchema.safeParse({ ...cmd, symbol: 'BTC', config: { epochs: 3, tags: ['a', { deep: 'ok' }] } }).success).toBe(true);
    expect(issues(retrainCommandSchema, { ...cmd, requestId: 'r\udfff' })).toEqual(['requestId: must be well-formed Unicode (lone surrogate at index 1)']);
    expect(issues(retrainCommandSchema, { ...cmd, symbol: 'B\u0000' })).toEqual(['symbol: must not contain NUL (U+0000) (at index 1)']);
    expect(issues(retrainCommandSchema, { ...cmd, config: { tags: ['a', { deep: 'x\ud800' }] } })).toEqual([
      'config.tags.1.deep: must be well-formed Unicode (lone surrogate at index 1)',
    ]);
    const keyIssues = issues(retrainCommandSchema, { ...cmd, config: { ['k\ud800']: 1 } });
    expect(keyIssues).toEqual(['config.k\\ud800: key must be well-formed Unicode (lone surrogate at index 1)']);
    expect(textProblem(keyIssues[0] ?? ''), 'the issue itself is well-formed text').toBeUndefined();
  });

  it('model_active KV values: versions, regimes (keys) and reason', () => {
    const v = { pretrained: { any: 'v1.0.0' }, updatedAt: T0, reason: 'phase1' };
    expect(modelActiveSchema.safeParse(v).success).toBe(true);
    expect(issues(modelActiveSchema, { ...v, pretrained: { any: 'v1\ud800' } })).toEqual(['pretrained.any: must be well-formed Unicode (lone surrogate at index 2)']);
    expect(issues(modelActiveSchema, { ...v, pretrained: { ['c\udc00']: 'v1' } })).toEqual(['pretrained.c\\udc00: key must be well-formed Unicode (lone surrogate at index 1)']);
    expect(issues(modelActiveSchema, { ...v, online: 'o\u0000' })).toEqual(['online: must not contain NUL (U+0000) (at index 1)']);
    expect(issues(modelActiveSchema, { ...v, reason: '\ud800' })).toEqual(['reason: must be well-formed Unicode (lone surrogate at index 0)']);
  });
});

describe('bounds of market numbers', () => {
  it('ticks: price <= 1e15, size <= 1e18 (finite alone is not enough: two sizes of 1.5e308 overflow a bar)', () => {
    expect(tickSchema.safeParse({ ...tick, price: MAX_PRICE, size: MAX_SIZE }).success).toBe(true);
    expect(issues(tickSchema, { ...tick, size: 1.5e308 })).toEqual(['size: must be <= 1e18']);
    expect(issues(tickSchema, { ...tick, price: 1.0000001e15 })).toEqual(['price: must be <= 1e15']);
    expect(issues(tickSchema, { ...tick, price: 0 })).toEqual(['price: must be > 0']);
    expect(tickSchema.safeParse({ ...tick, size: 0 }).success).toBe(true);
  });

  it('bars: prices <= 1e15, volume <= 1e30, trades fit the integer column', () => {
    expect(barSchema.safeParse({ ...bar, high: MAX_PRICE, volume: MAX_BAR_VOLUME, trades: MAX_BAR_TRADES }).success).toBe(true);
    expect(issues(barSchema, { ...bar, high: 2e15 })).toEqual(['high: must be <= 1e15']);
    expect(issues(barSchema, { ...bar, volume: 1e31 })).toEqual(['volume: must be <= 1e30']);
    expect(issues(barSchema, { ...bar, trades: MAX_BAR_TRADES + 1 })).toEqual(['trades: must be <= 2147483647']);
    // Every bar closed from valid ticks is a valid bar: a minute would need 1e12 maximal ticks to pass the volume bound.
    expect(MAX_BAR_VOLUME / MAX_SIZE).toBe(1e12);
  });
});

describe('text from outside the bus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'text-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a CLI flag or argument that is not well-formed text is a usage error (exit 2)', () => {
    const options = { venue: { type: 'string' }, csv: { type: 'string' } } as const;
    expect(parseFlags(['--venue', 'binance'], options).values.venue).toBe('binance');
    const fail = (argv: string[], positionals = false): UsageError => {
      try {
        parseFlags(argv, options, positionals);
      } catch (err) {
        return err as UsageError;
      }
      throw new Error('no usage error');
    };
    const e = fail(['--venue', 'bin\ud800']);
    expect(e).toBeInstanceOf(UsageError);
    expect(e.exitCode).toBe(2);
    expect(e.message).toBe('--venue must be well-formed Unicode (lone surrogate at index 3)');
    expect(fail(['--csv', 'a\u0000.csv']).message).toBe('--csv must not contain NUL (U+0000) (at index 1)');
    expect(fail(['x', 'y\udc00'], true).message).toBe('argument 2 must be well-formed Unicode (lone surrogate at index 1)');
  });

  it('a bars CSV is decoded as UTF-8: bytes of an encoded surrogate become U+FFFD, never a lone surrogate', async () => {
    const path = join(dir, 'surrogate.csv');
    // ED A0 80 is U+D800 encoded as if it were a character (CESU-8): invalid UTF-8.
    const head = Buffer.from('timestamp,open,high,low,close,volume,symbol\n2024-03-01T00:00:00Z,1,2,1,2,1,S');
    writeFileSync(path, Buffer.concat([head, Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('\n2024-03-01T00:01:00Z,1,2,1,2,1,S\n')]));
    const all = await readBarsCsv(path);
    expect(all.bars.map((b) => b.symbol)).toEqual(['S\ufffd\ufffd\ufffd', 'S']);
    for (const b of all.bars) expect(textProblem(b.symbol ?? '')).toBeUndefined();
    expect((await readBarsCsv(path, { symbol: 'S' })).bars).toHaveLength(1);
  });
});
