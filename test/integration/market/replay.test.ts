import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { replayCommand } from '../../../cli/commands/replay.ts';
import { synthCommand } from '../../../cli/commands/synth.ts';
import { readBarsCsv, sumDecimal, toDecimalUnits, decimalEquals, synthBars } from '../../../market/index.ts';
import { barSchema, decodeJson, tickSchema, type Bar, type Tick } from '../../../streams/index.ts';
import { NatsServer } from '../../helpers/nats-server.ts';
import { marketBars } from '../../support/models/fixtures.ts';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'replay-'));
let server: NatsServer;
let nc: NatsConnection;
let jsm: JetStreamManager;
const savedUrl = process.env.NATS_URL;

beforeAll(async () => {
  server = await NatsServer.start();
  process.env.NATS_URL = server.url;
  nc = await connect({ servers: server.url });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
  rmSync(dir, { recursive: true, force: true });
  if (savedUrl === undefined) delete process.env.NATS_URL;
  else process.env.NATS_URL = savedUrl;
});

/** Runs a command in-process; returns exit code, stdout and stderr. */
async function run(command: typeof replayCommand, argv: string[]) {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
  try {
    const code = await command.run(argv);
    return { code, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

type Stored = { seq: number; subject: string; msgId: string | undefined; data: Uint8Array };
/** Every message of a stream on one subject, in stream order. */
async function readStream(stream: string, subject: string): Promise<Stored[]> {
  const info = await jsm.streams.info(stream);
  const found: Stored[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await jsm.streams.getMessage(stream, { seq });
    if (m && m.subject === subject) found.push({ seq, subject: m.subject, msgId: m.header?.get('Nats-Msg-Id'), data: m.data });
  }
  return found;
}
const ticksOf = (stored: Stored[]): Tick[] =>
  stored.map((s) => {
    const r = decodeJson(tickSchema, s.data, 4096);
    if (!r.ok) throw new Error(`stored tick ${s.seq} breaks the Tick schema: ${r.issues.join('; ')}`);
    return r.value;
  });

// 20 minutes of the seeded market from 2024-03-01 00:00 UTC, plus one bad row and one row off the minute.
const first20 = marketBars(20, 0);
const sliceLines = [
  'timestamp,open,high,low,close,volume',
  ...first20.map((b) => [new Date(b.ts).toISOString(), b.open, b.high, b.low, b.close, b.volume].join(',')),
];
const slice = join(dir, 'slice.csv');
writeFileSync(slice, [...sliceLines, '2024-03-01T00:20:00Z,1,0.5,2,1,1', '2024-03-01T00:21:30Z,1,1,1,1,1', ''].join('\n'));

describe('signals replay against a private nats-server', () => {
  it('publishes each bar as four ticks that aggregate back to the bar, with contract msg ids', async () => {
    const r = await run(replayCommand, ['--csv', slice, '--venue', 'binance', '--symbol', 'BTCUSDT', '--json']);
    expect(r.code, r.err).toBe(0);
    const summary: unknown = JSON.parse(r.out);
    expect(summary).toMatchObject({ bars: 20, rejected: 2, ticks: 80, published: 80, duplicates: 0, as: 'ticks', interrupted: false });
    expect(r.err, 'rejected rows are reported with line and field').toMatch(/2 rejected row\(s\)[\s\S]*line 22, low:[\s\S]*line 23, timestamp:/);

    const stored = await readStream('MD_TICKS', 'md.tick.binance.BTCUSDT');
    expect(stored.length, 'the stream holds exactly the ticks').toBe(80);
    const ticks = ticksOf(stored);
    expect(stored.map((s) => s.msgId), 'Nats-Msg-Id = <venue>:<symbol>:<tradeId>').toEqual(ticks.map((t) => `binance:BTCUSDT:${t.tradeId}`));
    expect(ticks.every((t, i) => i === 0 || t.ts > (ticks[i - 1]?.ts ?? 0)), 'published in time order').toBe(true);

    const { bars } = await readBarsCsv(slice, { wholeMinutes: true });
    for (const bar of bars) {
      const mine = ticks.filter((t) => t.ts >= bar.ts && t.ts < bar.ts + 60_000);
      const prices = mine.map((t) => t.price);
      const rebuilt = { open: prices[0], high: Math.max(...prices), low: Math.min(...prices), close: prices.at(-1) };
      expect(rebuilt, `bar ${bar.ts} rebuilt from its ticks`).toEqual({ open: bar.open, high: bar.high, low: bar.low, close: bar.close });
      expect(decimalEquals(sumDecimal(mine.map((t) => t.size)), toDecimalUnits(bar.volume)), `volume of bar ${bar.ts}`).toBe(true);
    }
  });

  it('a re-run is deduplicated by JetStream: every publish is a duplicate, the stream does not grow', async () => {
    const r = await run(replayCommand, ['--csv', slice, '--venue', 'binance', '--symbol', 'BTCUSDT', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ published: 80, duplicates: 80 });
    expect(r.err, 'the user is told what was dropped').toMatch(/80 of 80 messages were already in the stream/);
    expect((await readStream('MD_TICKS', 'md.tick.binance.BTCUSDT')).length).toBe(80);
  });

  it('--as bars publishes closed bars with source replay and msg id <venue>:<symbol>:<ts>', async () => {
    const r = await run(replayCommand, ['--csv', slice, '--venue', 'binance', '--symbol', 'BTCBARS', '--as', 'bars', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ bars: 20, ticks: 0, published: 20, duplicates: 0 });
    const stored = await readStream('MD_BARS', 'md.bar.1m.binance.BTCBARS');
    const bars: Bar[] = stored.map((s) => {
      const d = decodeJson(barSchema, s.data, 4096);
      if (!d.ok) throw new Error(d.issues.join('; '));
      return d.value;
    });
    expect(bars.length).toBe(20);
    expect(bars.every((b) => b.source === 'replay' && b.interval === '1m')).toBe(true);
    expect(stored.map((s) => s.msgId)).toEqual(bars.map((b) => `binance:BTCBARS:${b.ts}`));
    const { ts, open, high, low, close, volume } = first20[0] ?? { ts: 0, open: 0, high: 0, low: 0, close: 0, volume: 0 };
    expect(bars[0]).toMatchObject({ ts, open, high, low, close, volume });
    expect(ts).toBe(Date.UTC(2024, 2, 1));
  });

  it('--speed N paces by bar open time', async () => {
    const r = await run(replayCommand, ['--csv', slice, '--venue', 'binance', '--symbol', 'PACED', '--as', 'bars', '--speed', '1200', '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { seconds: number; published: number };
    expect(s.published).toBe(20);
    // 20 bars = 19 minutes after the first: 19 / 1200 min = 0.95 s.
    expect(s.seconds, 'not faster than the pace').toBeGreaterThanOrEqual(0.9);
    expect(s.seconds, 'not much slower either').toBeLessThan(3);
  });

  it('rejects tokens that cannot be part of a subject before connecting', async () => {
    await expect(run(replayCommand, ['--csv', slice, '--venue', 'binance', '--symbol', 'BTC>'])).rejects.toMatchObject({
      name: 'UsageError',
      exitCode: 2,
    });
    await expect(run(synthCommand, ['--venue', 'a b', '--symbols', '1', '--minutes', '1', '--seed', '1'])).rejects.toMatchObject({
      name: 'UsageError',
      exitCode: 2,
    });
  });

  it('signals synth publishes every symbol interleaved in time order', async () => {
    const r = await run(synthCommand, ['--venue', 'sim', '--symbols', '2', '--minutes', '3', '--seed', '11', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ bars: 6, ticks: 24, published: 24, duplicates: 0 });
    const info = await jsm.streams.info('MD_TICKS');
    const all: Tick[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await jsm.streams.getMessage('MD_TICKS', { seq });
      if (m?.subject.startsWith('md.tick.sim.')) all.push(...ticksOf([{ seq, subject: m.subject, msgId: undefined, data: m.data }]));
    }
    expect(all.length).toBe(24);
    expect(all.every((t, i) => i === 0 || t.ts >= (all[i - 1]?.ts ?? 0)), 'ticks of all symbols in time order').toBe(true);
    expect(new Set(all.map((t) => t.symbol))).toEqual(new Set(['SYN000', 'SYN001']));
    const expected = [...synthBars({ symbols: 2, minutes: 3, seed: 11 })];
    const syn1 = all.filter((t) => t.symbol === 'SYN001');
    expect(syn1[0]?.price, 'the ticks are the generator bars').toBe(expected[1]?.open);
    expect(syn1.at(-1)?.price).toBe(expected[5]?.close);
  });
});

describe('signals replay and synth as a process: exit codes and one-line errors', () => {
  const cli = (...args: string[]) =>
    spawnSync(join(root, 'node_modules/.bin/tsx'), ['cli/main.ts', ...args], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NATS_URL: server.url },
    });

  it('invalid venue or symbol token is a usage error (2), a missing file is bad input (3)', () => {
    const badVenue = cli('replay', '--csv', slice, '--venue', 'bin.ance', '--symbol', 'BTCUSDT');
    expect(badVenue.status, badVenue.stderr).toBe(2);
    expect(badVenue.stderr.trim()).toBe('signals: --venue "bin.ance" is invalid: must match [A-Za-z0-9_-]{1,32}');
    const missing = cli('replay', '--csv', join(dir, 'absent.csv'), '--venue', 'binance', '--symbol', 'BTCUSDT');
    expect(missing.status, missing.stderr).toBe(3);
    expect(missing.stderr).toMatch(/absent\.csv: file not found/);
    expect(missing.stderr, 'no stack trace for a user error').not.toMatch(/\n\s+at /);
  });

  it('synth --out writes a reproducible CSV', async () => {
    const a = join(dir, 'a.csv');
    const b = join(dir, 'b.csv');
    const first = cli('synth', '--symbols', '3', '--minutes', '30', '--seed', '4', '--out', a);
    expect(first.status, first.stderr).toBe(0);
    expect((await run(synthCommand, ['--symbols', '3', '--minutes', '30', '--seed', '4', '--out', b])).code).toBe(0);
    expect(readFileSync(a, 'utf8'), 'same seed, same file').toBe(readFileSync(b, 'utf8'));
    const { bars, rejected } = await readBarsCsv(a);
    expect(rejected).toEqual([]);
    expect(bars.length).toBe(90);
    expect(readFileSync(a, 'utf8').split('\n')[0]).toBe('timestamp,open,high,low,close,volume,symbol');
  });
});
