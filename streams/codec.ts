import type { z } from 'zod';

const encoder = new TextEncoder();
const utf8 = new TextDecoder('utf-8', { fatal: true });

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

/** Why a payload was rejected: a stable `reason` code plus human-readable issues. */
export type DecodeFailure = {
  ok: false;
  reason: 'oversized' | 'not_utf8' | 'invalid_json' | 'schema' | 'subject_mismatch' | 'bad_subject' | 'out_of_window' | 'poison' | 'conflict';
  issues: string[];
};
export type DecodeResult<T> = { ok: true; value: T } | DecodeFailure;

/** Formats zod issues as `path: message` lines. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}

/**
 * Decodes a JSON payload through a zod schema: size limit, strict UTF-8, JSON,
 * then `safeParse`. Never throws for bad input.
 */
export function decodeJson<S extends z.ZodType>(
  schema: S,
  data: Uint8Array,
  maxBytes: number,
): DecodeResult<z.output<S>> {
  if (data.byteLength > maxBytes) {
    return { ok: false, reason: 'oversized', issues: [`payload is ${data.byteLength} bytes, limit ${maxBytes}`] };
  }
  let text: string;
  try {
    text = utf8.decode(data);
  } catch {
    return { ok: false, reason: 'not_utf8', issues: ['payload is not valid UTF-8'] };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: 'invalid_json', issues: [(err as Error).message] };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: 'schema', issues: formatIssues(parsed.error) };
  return { ok: true, value: parsed.data };
}

/** The raw payload as kept in a dead letter: UTF-8 text when it is, else base64. */
export function rawForDeadLetter(data: Uint8Array): { raw: string; rawEncoding: 'utf8' | 'base64' } {
  try {
    return { raw: utf8.decode(data), rawEncoding: 'utf8' };
  } catch {
    return { raw: Buffer.from(data).toString('base64'), rawEncoding: 'base64' };
  }
}
