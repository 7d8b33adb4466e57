import { barSchema, decodeJson, parseScopedSubject, type Bar, type DecodeResult } from '../../streams/index.ts';

/** Validates one message of `md.bar.1m.<venue>.<symbol>` (schema, OHLC relations, subject match). */
export function validateBar(subject: string, data: Uint8Array, maxPayloadBytes: number): DecodeResult<Bar> {
  const scope = parseScopedSubject(subject, 3);
  if (!scope) return { ok: false, reason: 'bad_subject', issues: [`subject ${subject} is not md.bar.1m.<venue>.<symbol>`] };
  const decoded = decodeJson(barSchema, data, maxPayloadBytes);
  if (!decoded.ok) return decoded;
  if (decoded.value.venue !== scope.venue || decoded.value.symbol !== scope.symbol) {
    return {
      ok: false,
      reason: 'subject_mismatch',
      issues: [`payload ${decoded.value.venue}.${decoded.value.symbol} does not match subject ${scope.venue}.${scope.symbol}`],
    };
  }
  return decoded;
}
