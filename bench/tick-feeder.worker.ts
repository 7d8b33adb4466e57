// The market side of bench/predict's ticks mode, on its own thread (as a feed and
// its subscribers are other processes in production): publishes the tick slots to
// MD_TICKS (warm-up at full speed, then paced), listens to signal.pred.<venue>.>,
// and measures, for every bar, the time from publishing the tick that closed it
// to receiving its prediction (and its md.bar.1m message).
import { parentPort, workerData } from 'node:worker_threads';
import { connect } from '@nats-io/transport-node';
import { ackPublisher, encodeJson, publishPipelined, type OutboundMessage } from '../streams/index.ts';

/** A tick; `closes` names the bar (`<symbol>:<ts>`) it is the closing tick of. */
export type FeederTick = OutboundMessage & { closes?: string };
export type FeederInput = {
  natsUrl: string;
  venue: string;
  rate: number;
  warmSlots: number;
  slots: { msgs: FeederTick[] }[];
  /** Wait for every measured bar on md.bar.1m too (false when nothing stores bars). */
  waitForBars: boolean;
};
export type FeederResult = {
  sent: number;
  pubSeconds: number;
  /** ms from the closing tick's publish to the prediction's arrival, per bar predicted. */
  latencies: number[];
  /** ms from the closing tick's publish to the stored bar's arrival on md.bar.1m. */
  barLatencies: number[];
  /** Predictions that arrived before their bar was on md.bar.1m. */
  beforeBar: number;
  received: number;
};

const input = workerData as FeederInput;
const port = parentPort;
if (!port) throw new Error('tick-feeder runs as a worker thread');

const nc = await connect({ servers: input.natsUrl, noAsyncTraces: true });
const js = ackPublisher(nc);
const closeAt = new Map<string, number>();
const barAt = new Map<string, number>();
const latencies: number[] = [];
const barLatencies: number[] = [];
let measuring = false;
let received = 0;
let beforeBar = 0;
const utf8 = new TextDecoder();
const TS = '"ts":';
/**
 * `<symbol>:<ts>` of a bar or prediction: the symbol from the subject's last
 * token, the ts read off the payload without parsing it all (a full JSON.parse of
 * each prediction would delay the time stamps of the messages behind it).
 */
const key = (subject: string, data: Uint8Array) => {
  const text = utf8.decode(data);
  const at = text.indexOf(TS) + TS.length;
  let end = at;
  while (end < text.length && text.charCodeAt(end) >= 48 && text.charCodeAt(end) <= 57) end += 1;
  if (at < TS.length || end === at) throw new Error(`no ts in the message on ${subject}`);
  return `${subject.slice(subject.lastIndexOf('.') + 1)}:${text.slice(at, end)}`;
};
nc.subscribe(`md.bar.1m.${input.venue}.>`, {
  callback: (_err, msg) => {
    const now = performance.now();
    if (!measuring) return;
    const k = key(msg.subject, msg.data);
    barAt.set(k, now);
    const at = closeAt.get(k);
    if (at !== undefined) barLatencies.push(now - at);
  },
});
nc.subscribe(`signal.pred.${input.venue}.>`, {
  callback: (_err, msg) => {
    const now = performance.now();
    received += 1;
    if (!measuring) return;
    const k = key(msg.subject, msg.data);
    const at = closeAt.get(k);
    if (at === undefined) return;
    latencies.push(now - at);
    if (!barAt.has(k)) beforeBar += 1;
  },
});
await nc.flush();

for (const s of input.slots.slice(0, input.warmSlots)) await publishPipelined(js, s.msgs);
// Encoded ahead, so the paced loop below only publishes (and stamps each closing tick as it goes out).
const measured = input.slots.slice(input.warmSlots).map((s) =>
  s.msgs.map((m) => ({ subject: m.subject, data: encodeJson(m.payload), msgId: m.msgId, closes: m.closes })),
);
port.postMessage({ type: 'warmed' });
await new Promise<void>((resolve) => port.once('message', () => resolve()));

measuring = true;
const started = performance.now();
let sent = 0;
for (const slot of measured) {
  // Pace: the n-th tick goes out at n / rate seconds; a slot (one tick of every symbol) goes out at once.
  const wait = started + (sent / input.rate) * 1000 - performance.now();
  if (wait > 1) await new Promise((r) => setTimeout(r, wait));
  const acks: Promise<unknown>[] = [];
  for (const m of slot) {
    // Latency is timed from the publish of the bar's own closing tick.
    if (m.closes !== undefined) closeAt.set(m.closes, performance.now());
    acks.push(js.publish(m.subject, m.data, m.msgId === undefined ? {} : { msgID: m.msgId }));
  }
  await Promise.all(acks);
  sent += slot.length;
}
const pubSeconds = (performance.now() - started) / 1000;
const want = measured.reduce((n, slot) => n + slot.filter((m) => m.closes !== undefined).length, 0);
const deadline = Date.now() + 30_000;
while ((latencies.length < want || (input.waitForBars && barLatencies.length < want)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
await nc.drain();
const result: FeederResult = { sent, pubSeconds, latencies, barLatencies, beforeBar, received };
port.postMessage({ type: 'done', result });
