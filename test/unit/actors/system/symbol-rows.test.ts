import { describe, expect, it } from 'vitest';
import { symbolRows } from '../../../../actors/system/symbol-rows.ts';
import type { Children } from '../../../../actors/system/phase-supervisor.effects.ts';

describe('signals.symbols rows', () => {
  it('joins the quality supervisor and the predictor by symbol, sorted, with unknowns where one has not seen it', () => {
    const quality = {
      status: () => [
        { venue: 'b', symbol: 'Y', quality: 'quarantined', bars: 10, lastBarTs: 600_000, gaps: { found: 2, filled: 1, unfillable: 1, abandoned: 0, rows: 3, pending: 0 }, consistency: { windows: 1, findings: 2, state: 'x' }, backfill: { state: 'idle', lastError: undefined } },
      ],
    } as unknown as Children['quality'];
    const predictor = {
      statuses: () => [
        { venue: 'b', symbol: 'Y', state: 'ready', message: '', bars: 60, barsNeeded: 54, regime: 'calm', weights: {}, weightPhase: '' },
        { venue: 'a', symbol: 'X', state: 'warming_up', message: '', bars: 12, barsNeeded: 54, regime: 'unknown', weights: {}, weightPhase: '' },
      ],
    } as unknown as Children['predictor'];
    expect(symbolRows({ quality, predictor })).toEqual([
      { venue: 'a', symbol: 'X', quality: 'unknown', gaps: { found: 0, filled: 0, unfillable: 0 }, lastBarTs: null, prediction: 'warming_up', bars: 12, barsNeeded: 54, regime: 'unknown' },
      { venue: 'b', symbol: 'Y', quality: 'quarantined', gaps: { found: 2, filled: 1, unfillable: 1 }, lastBarTs: 600_000, prediction: 'ready', bars: 60, barsNeeded: 54, regime: 'calm' },
    ]);
    expect(symbolRows({ quality: undefined, predictor: undefined })).toEqual([]);
  });
});
