import { decodeJson, parseScopedSubject, tickSchema, type DecodeResult, type Tick } from '../../streams/index.ts';

export type TickValidationOptions = {
  maxPayloadBytes: number;
  maxSkewMs: number;
  /** Replay mode: any past ts is accepted; only the future beyond the skew is rejected. */
  acceptPast: boolean;
};

/**
 * The venue and symbol of tick subjects, each subject parsed once: subjects repeat
 * (one per venue/symbol). Bounded, so random bad subjects cannot grow it. One per
 * ingest pipeline.
 */
export class SubjectScopes {
  private readonly scopes = new Map<string, { venue: string; symbol: string } | undefined>();

  of(subject: string): { venue: string; symbol: string } | undefined {
    if (this.scopes.has(subject)) return this.scopes.get(subject);
    const scope = parseScopedSubject(subject, 2);
    if (this.scopes.size >= 10_000) this.scopes.clear();
    this.scopes.set(subject, scope);
    return scope;
  }
}

/**
 * Validates one message of `md.tick.<venue>.<symbol>`: payload size, UTF-8, JSON,
 * the Tick schema, that the payload's venue/symbol match the subject's, and the
 * time window. Never throws. `scopes` remembers parsed subjects (the hot path passes one).
 */
export function validateTick(
  subject: string,
  data: Uint8Array,
  opts: TickValidationOptions,
  now: number,
  scopes?: SubjectScopes,
): DecodeResult<Tick> {
  const scope = scopes ? scopes.of(subject) : parseScopedSubject(subject, 2);
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
