import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { encodeJson, rawForDeadLetter } from './codec.ts';
import type { DeadLetter } from './messages.schema.ts';

/** NATS's own default `max_payload`, used only before the connection has seen the server's INFO. */
const NATS_DEFAULT_MAX_PAYLOAD = 1_048_576;
/**
 * Room kept for the message's headers (`Nats-Msg-Id` and the protocol's own), which
 * count against `max_payload` together with the payload.
 */
const HEADER_ROOM = 1_024;
const MAX_ISSUES = 20;
const MAX_ISSUE_CHARS = 500;

/** The largest message the connected server accepts (payload plus headers), from its INFO. */
export function serverMaxPayload(nc: NatsConnection): number {
  const info = (nc as { info?: { max_payload?: number } }).info;
  return typeof info?.max_payload === 'number' && info.max_payload > 0 ? info.max_payload : NATS_DEFAULT_MAX_PAYLOAD;
}

export type DeadLetterInput = Omit<DeadLetter, 'raw' | 'rawEncoding' | 'truncated' | 'rawBytes' | 'rawSha256'> & { data: Uint8Array };

const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n)}…`);

/** Cuts a string to `n` UTF-16 units without leaving half a surrogate pair at the end. */
function cutAt(s: string, n: number): string {
  let end = Math.min(n, s.length);
  const last = s.charCodeAt(end - 1);
  if (end > 0 && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return s.slice(0, end);
}

/**
 * Builds the dead letter of a rejected message so that it always fits in one NATS
 * message of `maxPayload` bytes: when the raw payload plus its metadata would not,
 * only a prefix of the raw payload is kept, with the payload's full length and sha256
 * and `truncated: true`. Issues are bounded too (a payload with thousands of unknown
 * fields must not produce a letter larger than the payload). A letter that cannot be
 * published holds back every good message behind it, so it must never be too large.
 */
export function sizedDeadLetter(input: DeadLetterInput, maxPayload: number): DeadLetter {
  const { data, issues, ...meta } = input;
  const bounded = issues.slice(0, MAX_ISSUES).map((i) => clip(i, MAX_ISSUE_CHARS));
  if (issues.length > MAX_ISSUES) bounded.push(`… and ${issues.length - MAX_ISSUES} more issues`);
  const full: DeadLetter = { ...meta, issues: bounded, ...rawForDeadLetter(data) };
  const budget = maxPayload - HEADER_ROOM;
  if (encodeJson(full).byteLength <= budget) return full;
  const head: DeadLetter = {
    ...full,
    raw: '',
    truncated: true,
    rawBytes: data.byteLength,
    rawSha256: createHash('sha256').update(data).digest('hex'),
  };
  const room = budget - encodeJson(head).byteLength;
  if (room <= 0) return head;
  if (full.rawEncoding === 'base64') {
    // base64 is pure ASCII: 4 characters per 3 bytes, no JSON escapes.
    const bytes = Math.floor(room / 4) * 3;
    return { ...head, raw: Buffer.from(data.subarray(0, bytes)).toString('base64') };
  }
  // UTF-8 text: JSON escapes may widen it (up to 6 bytes for a control character), so
  // shrink until the encoded prefix fits. Each round at least halves the excess.
  let raw = cutAt(full.raw, room);
  for (;;) {
    const size = encodeJson(raw).byteLength - 2;
    if (size <= room) break;
    raw = cutAt(raw, Math.floor((raw.length * room) / size) - 1);
  }
  return { ...head, raw };
}
