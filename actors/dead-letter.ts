import {
  parseScopedSubject,
  publishPipelined,
  rawForDeadLetter,
  subjects,
  type DeadLetter,
  type DecodeFailure,
  type JsPublisher,
  type PulledMsg,
} from '../streams/index.ts';

/**
 * Publishes dead letters for rejected messages on `md.invalid.<venue>.<symbol>`
 * (`_` tokens when the subject has none usable), then terminates them. The stream
 * sequence is the dedup id, so a redelivered bad message is dead-lettered once.
 *
 * `terminate: false` leaves the messages to the caller: on an AckAll consumer a
 * `+TERM` acknowledges every earlier message too, so there the batch's single ack
 * (after everything before it is stored) must settle them instead.
 */
export async function deadLetter(
  js: JsPublisher,
  rejected: readonly { msg: PulledMsg; failure: DecodeFailure }[],
  tokenOffset: number,
  now: number,
  { terminate = true }: { terminate?: boolean } = {},
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
  if (terminate) for (const { msg } of rejected) msg.term();
}
