import { describe, expect, it } from 'vitest';
import type { EngineOutput } from '../../../../actors/prediction/index.ts';
import { batchMessages, predictionMsgId } from '../../../../actors/prediction/predictor-outputs.ts';
import type { Prediction } from '../../../../streams/index.ts';

const T = 1_700_000_040_000;

const prediction = (symbol: string, ts: number): Prediction => ({
  venue: 'v',
  symbol,
  ts,
  horizon: '1m',
  createdAt: ts + 60_000,
  value: 0.001,
  pUp: 0.6,
  confidence: 0.5,
  regime: 'calm',
  components: [],
  quality: 'ok',
});

function output(symbol: string, ts: number, opts: { weights?: boolean; withheld?: boolean; replayed?: boolean } = {}): EngineOutput {
  return {
    prediction: prediction(symbol, ts),
    weights: opts.weights ? { venue: 'v', symbol, ts, createdAt: ts + 60_000, regime: 'calm', scored: 3, components: [], history: [] } : undefined,
    components: [],
    withheld: opts.withheld ?? false,
    replayed: opts.replayed ?? false,
  };
}

describe('batchMessages', () => {
  it('publishes every prediction before any weights, each with its dedup id', () => {
    const r = batchMessages([output('A', T, { weights: true }), output('B', T), output('A', T + 60_000)]);
    expect(r.messages.map((m) => [m.subject, m.msgId])).toEqual([
      ['signal.pred.v.A', `v:A:${T}:1m`],
      ['signal.pred.v.B', `v:B:${T}:1m`],
      ['signal.pred.v.A', `v:A:${T + 60_000}:1m`],
      ['signal.weights.v.A', `v:A:${T}:weights`],
    ]);
    expect(r.messages[0]?.payload, 'the prediction is the payload').toEqual(prediction('A', T));
    expect(r.stored.map((p) => p.symbol)).toEqual(['A', 'B', 'A']);
    expect(r.predictions).toBe(3);
  });

  it('neither publishes nor stores a withheld prediction (nor its weights), and counts replays', () => {
    const r = batchMessages([output('A', T, { withheld: true, weights: true }), output('B', T, { replayed: true }), output('C', T, { replayed: true, withheld: true })]);
    expect(r.messages.map((m) => m.subject), 'only B goes out').toEqual(['signal.pred.v.B']);
    expect(r.stored.map((p) => p.symbol)).toEqual(['B']);
    expect({ predictions: r.predictions, withheld: r.withheld, replayed: r.replayed }).toEqual({ predictions: 1, withheld: 2, replayed: 2 });
  });

  it('has nothing to publish for no outputs', () => {
    expect(batchMessages([])).toEqual({ messages: [], stored: [], predictions: 0, withheld: 0, replayed: 0 });
  });

  it('gives a redelivered bar the same prediction id', () => {
    expect(predictionMsgId(prediction('A', T))).toBe(predictionMsgId({ ...prediction('A', T), createdAt: T + 120_000, value: 1 }));
    expect(predictionMsgId(prediction('A', T))).not.toBe(predictionMsgId(prediction('A', T + 60_000)));
  });
});
