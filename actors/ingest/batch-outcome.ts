import type { PulledMsg, Tick } from '../../streams/index.ts';
import type { BatchOutcome } from './ingest-pipeline.ts';

/**
 * A batch after screening (see `IngestPipeline.screen`): its valid ticks and their
 * messages, index for index, and how many messages were dead-lettered as invalid.
 */
export type ScreenedBatch = { readonly ticks: readonly Tick[]; readonly valid: readonly PulledMsg[]; readonly invalid: number };

/** What the store-and-publish step of one batch did (see `BatchChain.launch`). */
export type SettledBatch = { stored: number; barsPublished: number; refused: number; conflicts: number };

/**
 * The message a valid tick came in, found by identity: the pipeline hands back the
 * very tick objects of the screened batch when it sets some aside, and a tick it does
 * not know (none of this batch's) has no message to dead-letter.
 */
export function messageOfTick(screened: ScreenedBatch): (tick: Tick) => PulledMsg | undefined {
  return (tick) => screened.valid[screened.ticks.indexOf(tick)];
}

/**
 * The outcome of a batch of messages once settled. Every message is counted once:
 * the valid ticks are stored, or duplicates of stored ones, or set aside by the store
 * (refused or conflicting, counted as invalid with the messages screening rejected).
 * `pending` and `lastStreamSeq` come from the batch's last message, the one whose ack
 * settles the batch.
 */
export function batchOutcome(
  batch: readonly PulledMsg[],
  screened: ScreenedBatch,
  settled: SettledBatch,
  lateBars: number,
  durationMs: number,
): BatchOutcome {
  const last = batch[batch.length - 1];
  return {
    received: batch.length,
    stored: settled.stored,
    duplicates: screened.ticks.length - settled.stored - settled.refused,
    invalid: screened.invalid + settled.refused,
    conflicts: settled.conflicts,
    barsPublished: settled.barsPublished,
    lateBars,
    pending: last?.info.pending ?? 0,
    lastStreamSeq: last?.info.streamSequence ?? 0,
    durationMs,
  };
}

/** The outcome of work that received no message: grace closures, or bars drained from the outbox. */
export function barsOnlyOutcome(barsPublished: number, durationMs: number): BatchOutcome {
  return {
    received: 0, stored: 0, duplicates: 0, invalid: 0, barsPublished, lateBars: 0,
    pending: 0, lastStreamSeq: 0, durationMs,
  };
}
