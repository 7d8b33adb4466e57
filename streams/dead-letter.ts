import type { Logger } from '../config/index.ts';
import {
  parseScopedSubject,
  publishReliably,
  sizedDeadLetter,
  subjects,
  type DecodeFailure,
  type JsPublisher,
  type OutboundMessage,
  type PulledMsg,
  type RetryWait,
} from './index.ts';

/** NATS's default `max_payload`, for a publisher that cannot tell the server's (tests' plain JetStream clients). */
const DEFAULT_MAX_PAYLOAD = 1_048_576;
/**
 * An `oversized` letter keeps at most this much: the payload was refused for its size,
 * and a stream of megabyte junk must not push every earlier dead letter out of MD_DLQ
 * (256 MB, oldest dropped first). A prefix, the length and the sha256 identify it.
 */
const OVERSIZED_LETTER_BYTES = 65_536;

/** A dead letter that could never be published (what an alert reports). */
export type UndeliverableLetter = { subject: string; streamSeq: number; reason: string; error: string };

export type DeadLetterOptions = {
  /**
   * `false` leaves the messages to the caller: on an AckAll consumer a `+TERM`
   * acknowledges every earlier message too, so there the batch's single ack (after
   * everything before it is stored) must settle them instead.
   */
  terminate?: boolean;
  log?: Logger;
  /**
   * Called for a letter the server refuses for good: the message is still settled
   * (logged with its stream sequence), so one bad message never holds back the good
   * ones behind it. Raise an alert here.
   */
  onUndeliverable?: (letter: UndeliverableLetter) => void;
  /** Waits between attempts after a passing failure; without it such a failure rejects (the caller retries the call). */
  wait?: RetryWait;
};

const noWait: RetryWait = () => Promise.resolve(false);

/**
 * Publishes dead letters for rejected messages on `md.invalid.<venue>.<symbol>`
 * (`_` tokens when the subject has none usable), then terminates them. The stream
 * sequence is the dedup id, so a redelivered bad message is dead-lettered once.
 * Each letter is sized to fit the server's `max_payload` (see `sizedDeadLetter`).
 */
export async function deadLetter(
  js: JsPublisher,
  rejected: readonly { msg: PulledMsg; failure: DecodeFailure }[],
  tokenOffset: number,
  now: number,
  options: DeadLetterOptions = {},
): Promise<void> {
  if (rejected.length === 0) return;
  const maxPayload = js.maxPayload?.() ?? DEFAULT_MAX_PAYLOAD;
  const seqOf = new Map<OutboundMessage, { msg: PulledMsg; reason: string }>();
  const letters = rejected.map(({ msg, failure }) => {
    const scope = parseScopedSubject(msg.subject, tokenOffset);
    const letter = sizedDeadLetter(
      { reason: failure.reason, issues: failure.issues, subject: msg.subject, receivedAt: now, data: msg.data, streamSeq: msg.info.streamSequence },
      failure.reason === 'oversized' ? Math.min(maxPayload, OVERSIZED_LETTER_BYTES) : maxPayload,
    );
    const out: OutboundMessage = {
      subject: scope ? subjects.invalid(scope.venue, scope.symbol) : subjects.invalid('_', '_'),
      payload: letter,
      msgId: `dlq:${msg.info.stream}:${msg.info.streamSequence}`,
    };
    seqOf.set(out, { msg, reason: failure.reason });
    return out;
  });
  await publishReliably(js, letters, {
    wait: options.wait ?? noWait,
    onUndeliverable: (message, err) => {
      const source = seqOf.get(message);
      const letter: UndeliverableLetter = {
        subject: source?.msg.subject ?? message.subject,
        streamSeq: source?.msg.info.streamSequence ?? 0,
        reason: source?.reason ?? 'unknown',
        error: err instanceof Error ? err.message : String(err),
      };
      options.log?.error(letter, 'dead letter refused by NATS; the message is settled without it');
      options.onUndeliverable?.(letter);
    },
  });
  if (options.terminate ?? true) for (const { msg } of rejected) msg.term();
}
