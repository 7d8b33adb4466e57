import type { Logger } from '../../config/index.ts';
import { readBars, upsertBars, withTransaction, type Db } from '../../sql/index.ts';
import { deadLetter, ORIGIN_HEADER, type Bar, type DecodeFailure, type JsPublisher, type PulledMsg } from '../../streams/index.ts';
import { validateBar } from '../quality/index.ts';
import type { PersistentWeighters } from './confidence-weighter.effects.ts';
import type { EngineOutput, FineTuneTrigger, HybridEngine, QualityLookup } from './hybrid-engine.ts';
import { sameBar, type PredictorFastLane } from './predictor-fast-lane.ts';
import type { PredictorBatchOutcome } from './predictor.machine.ts';
import type { PublishedCounts } from './predictor-outputs.ts';
import type { CatchUpReader, PredictorOwnership } from './predictor-ownership.ts';

const BAR_MS = 60_000;

/** A pulled batch sorted by what becomes of each message. */
export type SortedBatch = {
  /** Messages holding a valid bar (acked once the batch is stored). */
  valid: PulledMsg[];
  bars: Bar[];
  /** Bars not published by this system's marketSync (stored here). */
  external: Bar[];
  /** Messages that are no bar (dead-lettered). */
  rejected: { msg: PulledMsg; failure: DecodeFailure }[];
};

/** Validates each message of a batch as a bar. */
export function sortBatch(batch: readonly PulledMsg[], maxPayloadBytes: number): SortedBatch {
  const sorted: SortedBatch = { valid: [], bars: [], external: [], rejected: [] };
  for (const msg of batch) {
    const r = validateBar(msg.subject, msg.data, maxPayloadBytes);
    if (!r.ok) {
      sorted.rejected.push({ msg, failure: r });
      continue;
    }
    sorted.valid.push(msg);
    sorted.bars.push(r.value);
    if (msg.headers?.get(ORIGIN_HEADER) !== 'market-sync') sorted.external.push(r.value);
  }
  return sorted;
}

/** The first bar of each symbol for which `known` is false, in order. */
export function firstUnseen(bars: readonly Bar[], known: (venue: string, symbol: string) => boolean): Bar[] {
  const first = new Map<string, Bar>();
  for (const b of bars) if (!first.has(`${b.venue}.${b.symbol}`) && !known(b.venue, b.symbol)) first.set(`${b.venue}.${b.symbol}`, b);
  return [...first.values()];
}

/** A bar the fast lane stepped before its durable copy came. */
export type LaneRecord = { bar: Bar; published: Promise<boolean>; outputs: readonly EngineOutput[] };

/**
 * Splits bars into those still to be stepped and those the fast lane already
 * stepped (with the lane's bars that differ from their stored version).
 */
export function takeFromLane(
  bars: readonly Bar[],
  lane: Pick<PredictorFastLane, 'take'> | undefined,
): { fresh: Bar[]; fromLane: LaneRecord[]; mismatches: { lane: Bar; stored: Bar }[] } {
  const fresh: Bar[] = [];
  const fromLane: LaneRecord[] = [];
  const mismatches: { lane: Bar; stored: Bar }[] = [];
  for (const b of bars) {
    const h = lane?.take(b);
    if (!h) {
      fresh.push(b);
      continue;
    }
    fromLane.push(h);
    if (!sameBar(h.bar, b)) mismatches.push({ lane: h.bar, stored: b });
  }
  return { fresh, fromLane, mismatches };
}

export type BatchHandlerDeps = {
  db: Db;
  js: JsPublisher;
  log: Logger;
  engine: HybridEngine;
  quality: QualityLookup;
  weighters: PersistentWeighters | undefined;
  /** Bars of history a symbol seen for the first time is warmed up from (0 = none). */
  preloadBars: number;
  maxPayloadBytes: number;
  now: () => number;
  /** Scale-out only: which bars this process predicts, and the catch-ups of symbols acquired. */
  ownership: PredictorOwnership | undefined;
  readCatchUp: CatchUpReader;
  fastLane: PredictorFastLane | undefined;
  publish: (outputs: readonly EngineOutput[]) => Promise<PublishedCounts>;
  onTriggers: ((triggers: readonly { trigger: FineTuneTrigger }[]) => void) | undefined;
};

export type BatchResult = { ack: PulledMsg[]; outcome: PredictorBatchOutcome };

/**
 * The durable path's handler of one batch of MD_BARS messages: validate, store
 * external bars, keep the owned ones, warm up new symbols, one engine step,
 * publish and store; the messages to ack are returned.
 */
export function createBatchHandler(deps: BatchHandlerDeps): (batch: PulledMsg[]) => Promise<BatchResult> {
  const { engine, log } = deps;
  return async (batch) => {
    const t0 = performance.now();
    const now = deps.now();
    const sorted = sortBatch(batch, deps.maxPayloadBytes);
    await deadLetter(deps.js, sorted.rejected, 3, now, { log });
    // Bars from external feeds are stored (marketSync stores its own before publishing).
    if (sorted.external.length > 0) await withTransaction(deps.db, (c) => upsertBars(c, sorted.external));
    const owned = deps.ownership ? await deps.ownership.ownedBars(sorted.bars, deps.readCatchUp) : { bars: [...sorted.bars], caughtUp: [] };
    await warmUpNewSymbols(deps, owned.bars);
    // Bars the fast lane already predicted are not stepped again (no await from here to the step).
    const lane = takeFromLane(owned.bars, deps.fastLane);
    for (const m of lane.mismatches) log.warn(m, 'the bar predicted on the fast lane differs from the stored bar');
    const result = engine.step(lane.fresh, deps.quality);
    // Fine-tunes start in the background right away; the engine never repeats a trigger, even if this batch is retried.
    if (result.triggers.length > 0) deps.onTriggers?.(result.triggers.map((trigger) => ({ trigger })));
    // A lane publication that failed is done here (same dedup ids).
    const redo = (await Promise.all(lane.fromLane.map(async (h) => ((await h.published) ? [] : h.outputs)))).flat();
    const { predictions, withheld, replayed } = await deps.publish([...redo, ...result.outputs]);
    deps.ownership?.caughtUpDone(owned.caughtUp);
    return {
      ack: sorted.valid,
      outcome: {
        bars: sorted.bars.length,
        predictions,
        replayed,
        lane: 0,
        laneMismatches: lane.mismatches.length,
        withheld,
        warmingUp: result.warmingUp,
        stale: result.stale,
        invalid: sorted.rejected.length,
        triggers: result.triggers.length,
        ms: performance.now() - t0,
      },
    };
  };
}

/**
 * A symbol seen for the first time resumes its weights from its snapshot and is warmed up
 * from its stored history (restart, or bars before this predictor).
 */
async function warmUpNewSymbols(deps: BatchHandlerDeps, bars: readonly Bar[]): Promise<void> {
  const first = firstUnseen(bars, (venue, symbol) => deps.engine.knows(venue, symbol));
  await deps.weighters?.preload(first);
  if (deps.preloadBars <= 0) return;
  for (const b of first) {
    const history = await readBars(deps.db, b.venue, b.symbol, b.ts - deps.preloadBars * BAR_MS, b.ts - BAR_MS);
    deps.engine.warmUp(b.venue, b.symbol, history);
  }
}
