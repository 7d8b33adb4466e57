import { createHash } from 'node:crypto';
import type { PubAck } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { retryWaiter } from '../../../streams/backoff.ts';
import {
  deadLetterSchema,
  encodeJson,
  isPermanentPublishError,
  publishReliably,
  PublishRejectedError,
  PublishTimeoutError,
  sizedDeadLetter,
  type JsPublisher,
} from '../../../streams/index.ts';

const enc = new TextEncoder();
const MAX = 1_048_576;
const letterOf = (data: Uint8Array, issues: string[] = ['payload is too large']) =>
  sizedDeadLetter({ reason: 'oversized', issues, subject: 'md.tick.v.S', receivedAt: Date.UTC(2026, 0, 1), data, streamSeq: 7 }, MAX);

describe('a dead letter always fits the server max_payload', () => {
  it('keeps a small payload whole', () => {
    const data = enc.encode('{"price":1}');
    const l = letterOf(data);
    expect(l.raw).toBe('{"price":1}');
    expect(l.truncated).toBeUndefined();
    expect(deadLetterSchema.safeParse(l).success).toBe(true);
  });

  it.each([
    ['plain ASCII', enc.encode(`{"pad":"${'x'.repeat(1_047_500)}"}`)],
    ['control characters (6 bytes each once escaped)', enc.encode('\u0001'.repeat(900_000))],
    ['quotes and backslashes', enc.encode('"\\'.repeat(450_000))],
    ['multi-byte text', enc.encode('€😀'.repeat(150_000))],
    ['binary (base64)', Uint8Array.from({ length: 1_000_000 }, (_, i) => (i * 7919) % 256)],
  ])('truncates %s to a prefix, with the length and sha256 of the whole', (_what, data) => {
    const l = letterOf(data);
    const size = encodeJson(l).byteLength;
    expect(size).toBeLessThanOrEqual(MAX - 1_024);
    // Not wastefully small either: most of the room is used.
    expect(size).toBeGreaterThan(MAX / 2);
    expect(l.truncated).toBe(true);
    expect(l.rawBytes).toBe(data.byteLength);
    expect(l.rawSha256).toBe(createHash('sha256').update(data).digest('hex'));
    const prefix = l.rawEncoding === 'base64' ? Buffer.from(l.raw, 'base64') : Buffer.from(l.raw, 'utf8');
    expect(prefix.length).toBeGreaterThan(0);
    expect(Buffer.from(data.subarray(0, prefix.length)).equals(prefix)).toBe(true);
    expect(Buffer.from(l.raw, 'utf8').toString('utf8')).toBe(l.raw); // no half surrogate pair at the cut
    expect(deadLetterSchema.safeParse(l).success).toBe(true);
  });

  it('bounds the issues of a payload with thousands of them', () => {
    const issues = Array.from({ length: 50_000 }, (_, i) => `field${i}: ${'unrecognized key '.repeat(5)}`);
    const l = letterOf(enc.encode('{}'), issues);
    expect(l.issues.length).toBe(21);
    expect(l.issues[20]).toMatch(/49980 more issues/);
  });
});

/** A publisher whose answers are scripted per attempt of each message. */
function scripted(fail: (subject: string, attempt: number) => Error | undefined) {
  const attempts = new Map<string, number>();
  const stored: string[] = [];
  const js: JsPublisher = {
    publish(subject: string): Promise<PubAck> {
      const n = attempts.get(subject) ?? 0;
      attempts.set(subject, n + 1);
      const err = fail(subject, n);
      if (err) return Promise.reject(err);
      const duplicate = stored.includes(subject);
      if (!duplicate) stored.push(subject);
      return Promise.resolve({ stream: 'S', seq: stored.length, duplicate });
    },
  };
  return { js, stored, attempts };
}

describe('publishReliably', () => {
  const wait = retryWaiter({ minMs: 1, maxMs: 5 });
  const msgs = (n: number) => Array.from({ length: n }, (_, i) => ({ subject: `s.${i}`, payload: i, msgId: `m${i}` }));

  it('sends again what failed for a passing reason, in order, until all is acknowledged', async () => {
    // Messages 3..6 fail twice (a server restart in the middle of the window).
    const { js, stored } = scripted((s, n) => {
      const i = Number(s.split('.')[1]);
      return i >= 3 && i <= 6 && n < 2 ? new PublishTimeoutError('no PubAck within 5000 ms') : undefined;
    });
    const retries: number[] = [];
    const r = await publishReliably(js, msgs(10), { wait, onRetry: (_e, attempt) => retries.push(attempt) });
    expect(r).toEqual({ published: 10, duplicates: 0, undeliverable: 0 });
    // The window went on past the failures; the failed ones followed, in their order.
    expect(stored).toEqual(['s.0', 's.1', 's.2', 's.7', 's.8', 's.9', 's.3', 's.4', 's.5', 's.6']);
    expect(new Set(stored).size).toBe(10);
    expect(retries.length).toBeGreaterThanOrEqual(2);
  });

  it('settles a message the server refuses for good, once, and goes on', async () => {
    const { js, stored } = scripted((s) => (s === 's.2' ? new PublishRejectedError('message size exceeds maximum allowed', 400, 10054) : undefined));
    const refused: string[] = [];
    const r = await publishReliably(js, msgs(5), { wait, onUndeliverable: (m) => refused.push(m.subject) });
    expect(r.undeliverable).toBe(1);
    expect(refused).toEqual(['s.2']);
    expect(stored).toEqual(['s.0', 's.1', 's.3', 's.4']);
  });

  it('rejects when the caller stops waiting', async () => {
    const { js } = scripted(() => new PublishRejectedError('no stream captures this subject (503 no responders)', 503));
    await expect(publishReliably(js, msgs(2), { wait: () => Promise.resolve(false) })).rejects.toThrow(/503/);
  });

  it('tells passing failures from permanent ones', () => {
    expect(isPermanentPublishError(new PublishTimeoutError('x'))).toBe(false);
    expect(isPermanentPublishError(new PublishRejectedError('no responders', 503))).toBe(false);
    expect(isPermanentPublishError(new PublishRejectedError('too big', 400, 10054))).toBe(true);
    expect(isPermanentPublishError(Object.assign(new Error("'payload' max_payload size exceeded"), { name: 'InvalidArgumentError' }))).toBe(true);
    expect(isPermanentPublishError(Object.assign(new Error('closed connection'), { name: 'ClosedConnectionError' }))).toBe(false);
  });
});
