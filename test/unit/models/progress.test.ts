import { describe, expect, it } from 'vitest';
import { createTrainProgress } from '../../../models/index.ts';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  return { chunks, out: { isTTY, write: (c: string) => chunks.push(c) } };
}

describe('training progress', () => {
  it('prints one plain line per epoch when stderr is not a terminal', () => {
    const { chunks, out } = sink(false);
    const p = createTrainProgress(out);
    p.epochStart(1, 3);
    p.batch(1, 1, 10, 0.5);
    p.epochEnd({ epoch: 1, loss: 1.23456, valLoss: 0.98765, ms: 2000, improved: true }, 3);
    p.done();
    expect(chunks).toEqual(['epoch 1/3 loss 1.2346 val_loss 0.9877 * 2.0s ETA 00:04\n']);
  });

  it('redraws a bar with epoch, loss and ETA on a terminal', () => {
    const { chunks, out } = sink(true);
    const p = createTrainProgress(out);
    p.epochStart(1, 2);
    p.batch(1, 10, 10, 0.25);
    p.epochEnd({ epoch: 1, loss: 0.25, valLoss: 0.3, ms: 1000, improved: false }, 2);
    p.done();
    expect(chunks[0]).toMatch(/^\r\x1b\[2Kepoch 1\/2 \[#{24}\] 100% loss 0\.2500 ETA \d\d:\d\d$/);
    expect(chunks[1]).toBe('\r\x1b[2Kepoch 1/2 loss 0.2500 val_loss 0.3000 1.0s ETA 00:01\n');
  });
});
