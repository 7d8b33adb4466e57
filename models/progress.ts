/** One finished epoch. Losses are the sum of both heads (MSE of the standardised return + BCE of pUp). */
export type EpochStats = {
  epoch: number;
  loss: number;
  valLoss: number;
  ms: number;
  improved: boolean;
};

/** Training progress sink: a redrawn bar on a terminal, one plain line per epoch otherwise. */
export interface TrainProgress {
  epochStart(epoch: number, epochs: number): void;
  batch(epoch: number, batch: number, batches: number, loss: number): void;
  epochEnd(stats: EpochStats, epochs: number): void;
  done(): void;
}

export const silentProgress: TrainProgress = {
  epochStart: () => undefined,
  batch: () => undefined,
  epochEnd: () => undefined,
  done: () => undefined,
};

function clock(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '--:--';
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const mm = String(m).padStart(2, '0');
  const ss = String(sec).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

type Sink = { write(chunk: string): unknown; isTTY?: boolean };

/**
 * Progress for a terminal (`tty`: one line redrawn at most every 100 ms with
 * epoch, bar, loss and ETA) or for logs and pipes (one line per epoch).
 * ETA assumes every requested epoch runs; early stopping can only shorten it.
 */
export function createTrainProgress(out: Sink, tty = out.isTTY === true): TrainProgress {
  let epochStarted = Date.now();
  let totalEpochs = 0;
  let epochsDone = 0;
  let doneMs = 0;
  let lastDraw = 0;
  let drawn = false;
  return {
    epochStart(_epoch, epochs) {
      epochStarted = Date.now();
      totalEpochs = epochs;
    },
    batch(epoch, batch, batches, loss) {
      if (!tty) return;
      const now = Date.now();
      if (now - lastDraw < 100 && batch < batches) return;
      lastDraw = now;
      const fraction = batch / batches;
      const width = 24;
      const filled = Math.round(fraction * width);
      const perEpoch = epochsDone > 0 ? doneMs / epochsDone : (now - epochStarted) / fraction;
      const etaMs = perEpoch * (totalEpochs - epoch + 1 - fraction);
      out.write(
        `\r\x1b[2Kepoch ${epoch}/${totalEpochs} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}% loss ${loss.toFixed(4)} ETA ${clock(etaMs)}`,
      );
      drawn = true;
    },
    epochEnd(stats, epochs) {
      epochsDone += 1;
      doneMs += stats.ms;
      const etaMs = (doneMs / epochsDone) * (epochs - stats.epoch);
      const line = `epoch ${stats.epoch}/${epochs} loss ${stats.loss.toFixed(4)} val_loss ${stats.valLoss.toFixed(4)}${stats.improved ? ' *' : ''} ${(stats.ms / 1000).toFixed(1)}s ETA ${clock(etaMs)}`;
      out.write(tty && drawn ? `\r\x1b[2K${line}\n` : `${line}\n`);
      drawn = false;
    },
    done() {
      if (tty && drawn) out.write('\n');
      drawn = false;
    },
  };
}
