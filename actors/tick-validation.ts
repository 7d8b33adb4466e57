import { decodeJson, parseScopedSubject, tickSchema, type DecodeResult, type Tick } from '../streams/index.ts';

export type TickValidationOptions = {
  maxPayloadBytes: number;
  maxSkewMs: number;
  /** Replay mode: any past ts is accepted; only the future beyond the skew is rejected. */
  acceptPast: boolean;
};

/**
 * Validates one message of `md.tick.<venue>.<symbol>`: payload size, UTF-8, JSON,
 * the Tick schema, that the payload's venue/symbol match the subject's, and the
 * time window. Never throws.
 */
export function validateTick(subject: string, data: Uint8Array, opts: TickValidationOptions, now: number): DecodeResult<Tick> {
  const scope = parseScopedSubject(subject, 2);
  if (!scope) return { ok: false, reason: 'bad_subject', issues: [`subject ${subject} is not md.tick.<venue>.<symbol>`] };
  const decoded = decodeJson(tickSchema, data, opts.maxPayloadBytes);
  if (!decoded.ok) return decoded;
  const t = decoded.value;
  if (t.venue !== scope.venue || t.symbol !== scope.symbol) {
    return {
      ok: false,
      reason: 'subject_mismatch',
      issues: [`payload ${t.venue}.${t.symbol} does not match subject ${scope.venue}.${scope.symbol}`],
    };
  }
  if (t.ts > now + opts.maxSkewMs) {
    return { ok: false, reason: 'out_of_window', issues: [`ts: ${t.ts - now} ms in the future (max skew ${opts.maxSkewMs} ms)`] };
  }
  if (!opts.acceptPast && t.ts < now - opts.maxSkewMs) {
    return { ok: false, reason: 'out_of_window', issues: [`ts: ${now - t.ts} ms in the past (max skew ${opts.maxSkewMs} ms, live mode)`] };
  }
  return decoded;
}
