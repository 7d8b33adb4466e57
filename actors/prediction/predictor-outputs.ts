import { insertPredictions, type Db } from '../../sql/index.ts';
import { publishPipelined, subjects, type JsPublisher, type OutboundMessage, type Prediction } from '../../streams/index.ts';
import type { PersistentWeighters } from './confidence-weighter.effects.ts';
import type { EngineOutput } from './hybrid-engine.ts';
import { weightsMsgId } from './weights.schema.ts';

/** Publish acks outstanding at once while a batch's messages go out. */
const PUBLISH_WINDOW = 4_096;

/** What publishing a batch's outputs did. */
export type PublishedCounts = { predictions: number; withheld: number; replayed: number };

/** The dedup id of a prediction: a redelivered bar publishes the same prediction under the same id. */
export function predictionMsgId(p: Prediction): string {
  return `${p.venue}:${p.symbol}:${p.ts}:${p.horizon}`;
}

/**
 * What a batch's engine outputs become: the messages to publish (every prediction,
 * then the weights), the predictions to store, and the counts. A withheld output
 * (a quarantined symbol) is neither published nor stored.
 */
export function batchMessages(outputs: readonly EngineOutput[]): PublishedCounts & { messages: OutboundMessage[]; stored: Prediction[] } {
  const messages: OutboundMessage[] = [];
  // Weights go out after all the predictions: subscribers wait for the predictions, not for the weights.
  const weights: OutboundMessage[] = [];
  const stored: Prediction[] = [];
  let withheld = 0;
  let replayed = 0;
  for (const o of outputs) {
    if (o.replayed) replayed += 1;
    if (o.withheld) {
      withheld += 1;
      continue;
    }
    const p = o.prediction;
    stored.push(p);
    messages.push({ subject: subjects.prediction(p.venue, p.symbol), payload: p, msgId: predictionMsgId(p) });
    if (o.weights) weights.push({ subject: subjects.weights(p.venue, p.symbol), payload: o.weights, msgId: weightsMsgId(o.weights) });
    // A challenger's shadow forecast goes beside the weights, never on signal.pred.*.
    if (o.shadow) weights.push({ subject: subjects.shadow(p.venue, p.symbol), payload: o.shadow, msgId: `${predictionMsgId(p)}:shadow:${o.shadow.version}` });
  }
  for (const w of weights) messages.push(w);
  return { messages, stored, predictions: stored.length, withheld, replayed };
}

export type OutputSink = { js: JsPublisher; db: Db; weighters: PersistentWeighters | undefined };

/**
 * Publishes the predictions (and weights) with dedup ids, saves the weighters,
 * and stores the predictions: before a batch is acked, so a redelivery never
 * scores an outcome twice.
 */
export async function publishOutputs(sink: OutputSink, outputs: readonly EngineOutput[]): Promise<PublishedCounts> {
  const { messages, stored, predictions, withheld, replayed } = batchMessages(outputs);
  await publishPipelined(sink.js, messages, PUBLISH_WINDOW);
  // The weighter snapshots are saved before the predictions are stored: a process that takes the symbol over
  // catches up from the last stored prediction, so the snapshot must never lag behind it (it would miss scoring
  // the outcomes in between).
  await sink.weighters?.flush();
  await insertPredictions(sink.db, stored);
  return { predictions, withheld, replayed };
}
