import { describe, expect, it } from 'vitest';
import { HybridEngine, StaticModelSource } from '../../../../actors/prediction/index.ts';
import { synthBars } from '../../../../market/index.ts';
import { NaiveBaseline } from '../../../../models/index.ts';

const spec = { lookback: 8, horizon: 1, volWindow: 10, context: false };
const bars = [...synthBars({ symbols: 1, minutes: 200, seed: 5 })].map((b) => ({ ...b, venue: 'v' }));
const engine = () => new HybridEngine(new StaticModelSource([{ role: 'pretrained', version: 'zero', regime: 'any', predictor: new NaiveBaseline('naive-zero', 8) }]), { spec, firstFineTuneBars: 1e9 });

describe('warming a new symbol up again from its history', () => {
  it('a symbol still warming up is warmed from history joined to its live bars and predicts from its next bar', () => {
    const e = engine();
    const sym = bars[0]?.symbol ?? '';
    // Three live bars: still warming up.
    expect(e.step(bars.slice(150, 153)).outputs).toHaveLength(0);
    expect(e.status('v', sym).state).toBe('warming_up');
    expect(e.rewarm('v', sym, bars.slice(0, 152)), 'refused: the joined series must end with the last bar stepped').toBe(false);
    expect(e.rewarm('v', 'OTHER', bars.slice(0, 153)), 'refused: a symbol never seen').toBe(false);
    expect(e.rewarm('v', sym, bars.slice(0, 153))).toBe(true);
    expect(e.status('v', sym).bars, 'the history counts as warm-up').toBe(153);
    expect(e.lastBarTs('v', sym)).toBe(bars[152]?.ts);
    const next = e.step(bars.slice(153, 154)).outputs;
    expect(next.map((o) => o.prediction.ts), 'predicted from the next bar').toEqual([bars[153]?.ts]);
    expect(e.status('v', sym).state).toBe('ready');
    expect(e.rewarm('v', sym, bars.slice(0, 154)), 'refused once the symbol has predicted').toBe(false);
  });
});
