import { describe, expect, it } from 'vitest';
import { DEFAULT_HEALTH_CONFIG, initialHealth, nextHealth, QualityBoard, symbolQualityState, type Finding, type HealthTrack } from '../../../../actors/quality/index.ts';

const f = (kind: Finding['kind']): Finding => ({ kind, ts: 0, detail: '' });
const config = { ...DEFAULT_HEALTH_CONFIG, quarantineAt: 2, recoverAfter: 3 };

function walk(windows: Finding[][]): string[] {
  let track: HealthTrack = initialHealth();
  return windows.map((w) => {
    track = nextHealth(track, w, config).track;
    return track.state;
  });
}

describe('health hysteresis', () => {
  it('degrades on one finding and recovers only after 3 clean windows', () => {
    expect(walk([[], [f('out_of_order')], [], [], [], []])).toEqual(['healthy', 'degraded', 'degraded', 'degraded', 'healthy', 'healthy']);
  });

  it('quarantines on K severe findings in one window, stays quarantined through degraded windows', () => {
    expect(walk([[f('ohlc'), f('duplicate')], [f('out_of_order')], [], [], [f('price_jump')], [], [], []])).toEqual([
      'quarantined', 'quarantined', 'quarantined', 'quarantined', 'quarantined', 'quarantined', 'quarantined', 'healthy',
    ]);
  });

  it('two non-severe findings do not quarantine', () => {
    expect(walk([[f('out_of_order'), f('out_of_order')]])).toEqual(['degraded']);
  });

  it('reports a change only when the state moves, with the reason', () => {
    const first = nextHealth(initialHealth(), [f('ohlc'), f('flat')], config);
    expect(first.change).toEqual({ from: 'healthy', to: 'quarantined', reason: '2 severe findings in one window (limit 2)' });
    expect(nextHealth(first.track, [f('ohlc'), f('flat')], config).change, 'no change, no event').toBeUndefined();
  });
});

describe('quality board', () => {
  it('answers undefined before any report, then the state; notifies changes only', () => {
    const board = new QualityBoard();
    const seen: string[] = [];
    board.onChange((v, s, e) => seen.push(`${v}.${s}=${e.state}`));
    expect(symbolQualityState('binance', 'BTCUSDT', board), 'not known yet').toBeUndefined();
    board.set('binance', 'BTCUSDT', { state: 'healthy', since: 1, reason: 'x' });
    board.set('binance', 'BTCUSDT', { state: 'healthy', since: 2, reason: 'x' });
    board.set('binance', 'BTCUSDT', { state: 'quarantined', since: 3, reason: 'y' });
    expect(board.isQuarantined('binance', 'BTCUSDT')).toBe(true);
    expect(symbolQualityState('binance', 'BTCUSDT', board)).toBe('quarantined');
    expect(seen).toEqual(['binance.BTCUSDT=healthy', 'binance.BTCUSDT=quarantined']);
  });
});
