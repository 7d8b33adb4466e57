import type { JetStreamClient } from '@nats-io/jetstream';
import {
  parseScopedSubject,
  publishPipelined,
  rawForDeadLetter,
  subjects,
  type DeadLetter,
  type DecodeFailure,
  type PulledMsg,
} from '../streams/index.ts';

/**
 * Publishes dead letters for rejected messages on `md.invalid.<venue>.<symbol>`
 * (`_` tokens when the subject has none usable), then terminates them. The stream
 * sequence is the dedup id, so a redelivered bad message is dead-lettered once.
 */
export async function deadLetter(
  js: JetStreamClient,
  rejected: readonly { msg: PulledMsg; failure: DecodeFailure }[],
  tokenOffset: number,
  now: number,
): Promise<void> {
  if (rejected.length === 0) return;
  await publishPipelined(
    js,
    rejected.map(({ msg, failure }) => {
      const scope = parseScopedSubject(msg.subject, tokenOffset);
      const letter: DeadLetter = {
        reason: failure.reason,
        issues: failure.issues,
        subject: msg.subject,
        receivedAt: now,
        ...rawForDeadLetter(msg.data),
        streamSeq: msg.info.streamSequence,
      };
      return {
        subject: scope ? subjects.invalid(scope.venue, scope.symbol) : subjects.invalid('_', '_'),
        payload: letter,
        msgId: `dlq:${msg.info.stream}:${msg.info.streamSequence}`,
      };
    }),
  );
  for (const { msg } of rejected) msg.term();
}
