import { connect as tcp } from 'node:net';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type SystemHandle } from '../../../../actors/system/system.ts';
import { barMessage, synthBars } from '../../../../market/index.ts';
import { ensureTopology, publishPipelined } from '../../../../streams/index.ts';
import { eventually, readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';

/**
 * A valid bar whose header block the client library cannot decode (a header key
 * nats.js refuses; the Go client or a raw HPUB can send one) is still a valid bar:
 * the predictor must not crash on it, blame it as poison, or stop predicting.
 */
describe('external bars with an undecodable header block', () => {
  let sys: TestSystem;
  let system: SystemHandle | undefined;
  beforeAll(async () => {
    sys = await startTestSystem('bar_headers', { METRICS_PORT: 0, RETRY_MIN_MS: 100, RETRY_MAX_MS: 1_000 });
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 256, duplicateWindowS: sys.settings.DUPLICATE_WINDOW_S });
  });
  afterAll(async () => {
    await system?.stop().catch(() => undefined);
    await sys?.dispose();
  });

  it('are predicted like any other bar; the predictor never restarts', { timeout: 180_000 }, async () => {
    system = startSystem({ nc: sys.nc, db: sys.db, settings: sys.settings, log: sys.log, pretrainEpochs: 1, maxRestarts: 5 });
    await system.ready(120_000);
    const bars = [...synthBars({ symbols: 1, minutes: 70, seed: 7 })];
    // Warm the series up with ordinary bars.
    await publishPipelined(jetstream(sys.nc), bars.slice(0, 60).map((b) => barMessage('hv', 'HDR', b)));
    await eventually(() => (system?.symbols().find((s) => s.symbol === 'HDR')?.lastTs ?? 0) === bars[59]!.ts, 60_000, 'the warm-up bars');
    const s = tcp(sys.nats.port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write('CONNECT {"verbose":false,"headers":true,"protocol":1}\r\n');
    const hdr = 'NATS/1.0\r\nBad Key: v\r\n\r\n';
    for (const b of bars.slice(60, 63)) {
      const m = barMessage('hv', 'HDR', b);
      const body = JSON.stringify(m.payload);
      s.write(`HPUB ${m.subject} ${hdr.length} ${hdr.length + Buffer.byteLength(body)}\r\n${hdr}${body}\r\n`);
    }
    s.end();
    await eventually(() => (system?.symbols().find((x) => x.symbol === 'HDR')?.lastTs ?? 0) === bars[62]!.ts, 30_000, 'the three bars with bad headers');
    await publishPipelined(jetstream(sys.nc), bars.slice(63, 70).map((b) => barMessage('hv', 'HDR', b)));
    await eventually(() => (system?.symbols().find((x) => x.symbol === 'HDR')?.lastTs ?? 0) === bars[69]!.ts, 30_000, 'the bars after them');
    expect(system.status().children.predictor).toMatchObject({ state: 'running', restarts: 0 });
    const poison = (await readStream<{ reason: string }>(sys.nc, 'MD_DLQ', 'md.invalid.hv.>')).filter((d) => d.data.reason === 'poison');
    expect(poison).toEqual([]);
  });
});
