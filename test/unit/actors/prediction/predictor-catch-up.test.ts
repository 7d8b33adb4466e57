import { describe, expect, it } from 'vitest';
import { catchUpRange } from '../../../../actors/prediction/predictor-catch-up.ts';

const T = 1_700_000_040_000;
const MIN = 60_000;

describe('catchUpRange', () => {
  it('starts after the last stored prediction and ends before the first live bar', () => {
    expect(catchUpRange(T, { deferredFrom: T - 10 * MIN, firstLiveTs: T + 5 * MIN }), 'a stored prediction wins over the deferral start').toEqual({
      from: T + MIN,
      to: T + 4 * MIN,
    });
  });

  it('runs to the latest stored bar when no live bar of the symbol is in the batch', () => {
    expect(catchUpRange(T, { deferredFrom: undefined, firstLiveTs: undefined })).toEqual({ from: T + MIN, to: Number.MAX_SAFE_INTEGER });
  });

  it('starts at the first bar seen while deferred when nothing of the symbol is stored', () => {
    expect(catchUpRange(undefined, { deferredFrom: T, firstLiveTs: T + 2 * MIN })).toEqual({ from: T, to: T + MIN });
  });

  it('has nothing to catch up on for a symbol still warming up, or when the live bar directly follows', () => {
    expect(catchUpRange(undefined, { deferredFrom: undefined, firstLiveTs: T }), 'no prediction stored and never deferred').toBeUndefined();
    expect(catchUpRange(T, { deferredFrom: undefined, firstLiveTs: T + MIN }), 'the live bar is the next one').toBeUndefined();
    expect(catchUpRange(T, { deferredFrom: undefined, firstLiveTs: T + 2 * MIN }), 'one bar missed').toEqual({ from: T + MIN, to: T + MIN });
  });
});
