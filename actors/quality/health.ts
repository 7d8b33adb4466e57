import type { Finding, FindingKind, HealthState } from './types.ts';

/**
 * Hysteresis of a symbol's health: `degraded` as soon as a window has
 * `degradeAt` findings, `quarantined` when a window has `quarantineAt` findings of
 * a severe kind, and back to `healthy` only after `recoverAfter` clean windows in a
 * row (a quarantined symbol stays quarantined through merely degraded windows).
 */
export type HealthConfig = {
  degradeAt: number;
  quarantineAt: number;
  recoverAfter: number;
  severe: readonly FindingKind[];
};

/**
 * Defaults. Severe: values that cannot be real or that contradict the source
 * (ohlc, volume, duplicate, tick_mismatch), implausible moves, a frozen feed.
 * Out-of-order bars alone only degrade.
 */
export const DEFAULT_HEALTH_CONFIG: HealthConfig = {
  degradeAt: 1,
  quarantineAt: 3,
  recoverAfter: 3,
  severe: ['ohlc', 'volume', 'duplicate', 'tick_mismatch', 'price_jump', 'flat'],
};

/** A symbol's health and how many clean windows it has had in a row. */
export type HealthTrack = { state: HealthState; cleanWindows: number };

export const initialHealth = (state: HealthState = 'healthy'): HealthTrack => ({ state, cleanWindows: 0 });

export type HealthChange = { from: HealthState; to: HealthState; reason: string };

/** The health after one more window's findings, and the change if there was one. */
export function nextHealth(
  track: HealthTrack,
  findings: readonly Finding[],
  config: HealthConfig = DEFAULT_HEALTH_CONFIG,
): { track: HealthTrack; change?: HealthChange } {
  const severe = findings.filter((f) => config.severe.includes(f.kind)).length;
  let next: HealthTrack;
  let reason: string;
  if (severe >= config.quarantineAt) {
    next = { state: 'quarantined', cleanWindows: 0 };
    reason = `${severe} severe findings in one window (limit ${config.quarantineAt})`;
  } else if (findings.length >= config.degradeAt) {
    next = { state: track.state === 'quarantined' ? 'quarantined' : 'degraded', cleanWindows: 0 };
    reason = `${findings.length} finding(s): ${[...new Set(findings.map((f) => f.kind))].join(', ')}`;
  } else {
    const clean = track.cleanWindows + 1;
    next = { state: clean >= config.recoverAfter ? 'healthy' : track.state, cleanWindows: clean };
    reason = `${clean} clean window(s) in a row`;
  }
  if (next.state === track.state) return { track: next };
  return { track: next, change: { from: track.state, to: next.state, reason } };
}
