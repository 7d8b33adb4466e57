import type { OhlcvBar } from '../../models/index.ts';
import type { AdaptationReport, FineTuneConfig, HeldOutSet } from './fine-tune.ts';

/** Model files as they cross a thread boundary: Buffers arrive as plain Uint8Arrays. */
export type ClonedFiles = { modelJson: Uint8Array; weightsBin: Uint8Array; preprocessorJson: Uint8Array };

/** main -> worker: fine-tune a copy of `base` on `bars`. */
export type FineTuneRequest = {
  id: number;
  base: ClonedFiles;
  baseVersion: string;
  version: string;
  bars: readonly OhlcvBar[];
  config: FineTuneConfig;
};

/** worker -> main: the tuned model's files, its adaptation report and the held-out set, or why it failed. */
export type FineTuneReply =
  | { id: number; ok: true; files: ClonedFiles; report: AdaptationReport; heldOut: HeldOutSet }
  | { id: number; ok: false; name: string; message: string; retryable: boolean };

/** Buffers again (the artifact decoder reads them as such). */
export function filesFromClone(f: ClonedFiles): { modelJson: Buffer; weightsBin: Buffer; preprocessorJson: Buffer } {
  const buf = (u: Uint8Array) => Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  return { modelJson: buf(f.modelJson), weightsBin: buf(f.weightsBin), preprocessorJson: buf(f.preprocessorJson) };
}
