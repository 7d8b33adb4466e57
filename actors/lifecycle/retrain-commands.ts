import type { JetStreamClient } from '@nats-io/jetstream';
import { z } from 'zod';
import type { Logger } from '../../config/index.ts';
import { getRetrainRun, insertRetrainRun, type Db, type RetrainStatus } from '../../sql/index.ts';
import { decodeJson, publishJson, retrainCommandSchema, subjects, type DecodeFailure, type PulledMsg, type RetrainCommand } from '../../streams/index.ts';
import type { RetrainRequest } from './retrain-request.ts';
import { retrainScope } from './retrain.ts';
import { safeJson } from './safe-json.ts';

/**
 * The retrain consumer's handler: each `model.retrain.cmd` becomes a row in
 * retrain_runs (the durable record a restart resumes from) and a queued request.
 */

export type RetrainCommandsContext = {
  js: JetStreamClient;
  db: Db;
  log: Logger;
  /** Venue of retrain commands that name only a symbol. */
  defaultVenue: string | undefined;
  enqueue(req: RetrainRequest): void;
};

/** Enough of an invalid command to tell its publisher that it failed. */
const requestIdOnly = z.object({ requestId: z.string().min(1).max(128) });

/** Handles one batch; resolves with the messages to ack (invalid ones were terminated). */
export async function acceptRetrainCommands(ctx: RetrainCommandsContext, batch: PulledMsg[]): Promise<PulledMsg[]> {
  const ack: PulledMsg[] = [];
  for (const msg of batch) {
    const r = decodeJson(retrainCommandSchema, msg.data, 65_536);
    if (!r.ok) {
      await terminateInvalid(ctx, msg, r);
      continue;
    }
    await acceptCommand(ctx, r.value);
    ack.push(msg);
  }
  return ack;
}

/**
 * An invalid command is never retried. When its request id can be read, a failed
 * result is published under it, so a publisher waiting on `model.retrain.result` is not left hanging.
 */
async function terminateInvalid(ctx: RetrainCommandsContext, msg: PulledMsg, r: DecodeFailure): Promise<void> {
  ctx.log.warn({ reason: r.reason, issues: r.issues }, 'invalid retrain command terminated');
  const id = requestIdOnly.safeParse(safeJson(msg.data));
  if (id.success) {
    await publishJson(ctx.js, {
      subject: subjects.retrainResult,
      payload: { requestId: id.data.requestId, status: 'failed', deployed: false, error: `invalid retrain command: ${r.issues.join('; ')}` },
      msgId: `retrain-result:${id.data.requestId}`,
    });
  }
  msg.term();
}

async function acceptCommand(ctx: RetrainCommandsContext, cmd: RetrainCommand): Promise<void> {
  const scope = retrainScope(cmd, ctx.defaultVenue);
  const inserted = await insertRetrainRun(ctx.db, { requestId: cmd.requestId, scope, trigger: cmd.trigger, config: cmd.config ?? {} });
  const run = inserted ? undefined : await getRetrainRun(ctx.db, cmd.requestId);
  if (shouldRun(inserted, run?.status)) {
    ctx.enqueue({ requestId: cmd.requestId, scope, trigger: cmd.trigger, config: cmd.config ?? {} });
  }
}

/**
 * Whether a command is run: a new one is; a redelivered one only while its run is
 * unfinished (a redelivered command whose run already finished is not run twice).
 */
export function shouldRun(inserted: boolean, existing: RetrainStatus | undefined): boolean {
  return inserted || existing === 'queued' || existing === 'running';
}
