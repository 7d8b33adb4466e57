import { describe, expect, it } from 'vitest';
import { economicsInput, type HorizonOutcome } from '../../../../models/skill/index.ts';

const o = (ts: number, horizon: '1m' | '5m' | '60m', realisedReturn: number, blend: HorizonOutcome['forecasts'][string]): HorizonOutcome => ({
  ts,
  horizon,
  minutes: Number.parseInt(horizon, 10),
  realisedReturn,
  realisedVariance: realisedReturn ** 2,
  forecasts: { blend },
});

describe('economics input', () => {
  it('joins every horizon onto the 1-minute outcomes by origin bar, in time order', () => {
    const input = economicsInput([
      o(120_000, '1m', 0.3, { pUp: 0.3 }),
      o(0, '1m', 0.1, { pUp: 0.1 }),
      o(60_000, '1m', 0.2, {}),
      o(60_000, '60m', 9, { sigma: 0.02, pUp: 0.6 }),
      o(0, '60m', 9, { sigma: 0.01 }),
      o(60_000, '5m', 9, { pUp: 0.55 }),
    ]);
    expect(input.ts).toEqual([0, 60_000, 120_000]);
    expect(input.nextReturn, 'the 1m realised return is the next 1-minute return').toEqual([0.1, 0.2, 0.3]);
    expect(input.sigma).toEqual([0.01, 0.02, null]);
    expect(input.sigmaMinutes).toBe(60);
    expect(Object.keys(input.pUp), 'horizons by minutes').toEqual(['1m', '5m', '60m']);
    expect(input.pUp['1m']).toEqual([0.1, null, 0.3]);
    expect(input.pUp['5m']).toEqual([null, 0.55, null]);
    expect(input.pUp['60m']).toEqual([null, 0.6, null]);
  });

  it('refuses two outcomes of one horizon at one ts (several symbols mixed)', () => {
    expect(() => economicsInput([o(0, '1m', 0.1, {}), o(0, '1m', 0.2, {})])).toThrow(/two 1m outcomes at ts 0/);
  });
});
