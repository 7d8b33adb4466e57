import type { OhlcvBar } from '../../models/index.ts';
import type { AdaptationReport, FineTuneConfig, HeldOutSet } from './fine-tune.ts';
import type { PretrainConfig, PretrainedModel, PretrainSeries } from './pretrain.ts';

/** Model files as they cross a thread boundary: Buffers arrive as plain Uint8Arrays. */
export type ClonedFiles = { modelJson: Uint8Array; weightsBin: Uint8Array; preprocessorJson: Uint8Array };

/** main -> worker: fine-tune a copy of `base` on `bars`. */
export type FineTuneRequest = {
  type: 'fine-tune';
  id: number;
  base: ClonedFiles;
  baseVersion: string;
  version: string;
  bars: readonly OhlcvBar[];
  config: FineTuneConfig;
};

/** main -> worker: pretrain the per-regime models (Phase 1). */
export type PretrainRequest = { type: 'pretrain'; id: number; series: readonly PretrainSeries[]; config: PretrainConfig };

export type TrainingRequest = FineTuneRequest | PretrainRequest;

export type FailedReply = { id: number; ok: false; name: string; message: string; retryable: boolean };

/** worker -> main: the tuned model's files, its adaptation report and the held-out set, or why it failed. */
export type FineTuneReply = { id: number; ok: true; type: 'fine-tune'; files: ClonedFiles; report: AdaptationReport; heldOut: HeldOutSet } | FailedReply;

/** worker -> main: each regime model's files and training figures. */
export type PretrainReply =
  | {
      id: number;
      ok: true;
      type: 'pretrain';
      models: { regime: string; version: string; files: ClonedFiles; metrics: PretrainedModel['metrics'] }[];
      windowsPerRegime: Record<string, number>;
      fallbackRegimes: string[];
    }
  | FailedReply;

export type TrainingReply = FineTuneReply | PretrainReply;

/** Buffers again (the artifact decoder reads them as such). */
export function filesFromClone(f: ClonedFiles): { modelJson: Buffer; weightsBin: Buffer; preprocessorJson: Buffer } {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { modelJson: buf(f.modelJson), weightsBin: buf(f.weightsBin), preprocessorJson: buf(f.preprocessorJson) };
}
