/**
 * Timestamps of bars files: ISO-8601 (UTC unless an offset is given) or epoch
 * milliseconds. The accepted range matches the message contract (`epochMs` in
 * streams/messages.schema.ts): 1973-03-03 (1e11 ms) up to year 3000, so a number
 * that is really epoch seconds (or micro/nanoseconds) is caught here, with a message
 * that says so, instead of becoming a bar in 1970.
 */
export const MIN_EPOCH_MS = 100_000_000_000;
export const MAX_EPOCH_MS = 32_503_680_000_000;

export type TimestampResult = { ok: true; ts: number } | { ok: false; message: string };

// date, then optional time (T or space) with optional seconds, fraction and zone.
const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}:?\d{2})?)?$/;
const DIGITS = /^\d+$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

function inRange(ts: number, text: string): TimestampResult {
  if (ts < MIN_EPOCH_MS) {
    return { ok: false, message: `${JSON.stringify(text)} is before 1973-03-03, outside the supported range` };
  }
  if (ts >= MAX_EPOCH_MS) return { ok: false, message: `${JSON.stringify(text)} is after the year 3000` };
  return { ok: true, ts };
}

/** Epoch milliseconds given as a number (JSON lines files). */
export function checkEpochMs(value: number): TimestampResult {
  if (!Number.isSafeInteger(value) || value < 0) {
    return { ok: false, message: `${value} is not a whole, non-negative number of epoch milliseconds` };
  }
  if (value < MIN_EPOCH_MS) {
    return {
      ok: false,
      message: `${value} looks like epoch seconds; timestamps must be epoch milliseconds (e.g. ${value * 1000}) or ISO-8601`,
    };
  }
  if (value >= MAX_EPOCH_MS) {
    return { ok: false, message: `${value} looks like epoch micro- or nanoseconds; timestamps must be epoch milliseconds` };
  }
  return { ok: true, ts: value };
}

/**
 * Parses one timestamp cell: `2024-03-01T00:00:00Z`, `2024-03-01T00:00:00.250+01:00`,
 * `2024-03-01 00:00:00` (no zone = UTC), `2019-01-02` (midnight UTC) or epoch
 * milliseconds `1709251200000`. Never throws.
 */
export function parseTimestamp(raw: string): TimestampResult {
  const text = raw.trim();
  if (text === '') return { ok: false, message: 'is empty' };
  if (DIGITS.test(text)) return checkEpochMs(Number(text));
  const m = ISO.exec(text);
  if (!m) {
    return { ok: false, message: `${JSON.stringify(text)} is neither ISO-8601 (2024-03-01T00:00:00Z) nor epoch milliseconds` };
  }
  const [, y, mo, d, h = '0', mi = '0', s = '0', frac = '', zone = 'Z'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, message: `${JSON.stringify(text)} is not a valid date and time` };
  }
  const ms = frac === '' ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  let ts = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = Number(digits.slice(2, 4));
    if (offH > 23 || offM > 59) return { ok: false, message: `${JSON.stringify(text)} has an invalid UTC offset` };
    ts -= sign * (offH * 60 + offM) * 60_000;
  }
  return inRange(ts, text);
}
