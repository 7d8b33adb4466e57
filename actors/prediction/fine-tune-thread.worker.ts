// The fine-tune worker thread (fine-tune-thread.ts): its own event loop and its own
// TensorFlow.js backend, so a fine-tune never holds up the ticks, bars and predictions
// of the main thread. The main thread sends one job at a time; every job answers with a
// result or an error.
import { parentPort, workerData } from 'node:worker_threads';
import { decodeModel, encodeModel, NeuralPredictor, selectBackend, type OhlcvBar } from '../../models/index.ts';
import { fineTune, FineTuneUnavailableError, type FineTuneConfig } from './fine-tune.ts';
import { filesFromClone, type FineTuneReply, type FineTuneRequest } from './fine-tune-thread.messages.ts';

const port = parentPort;
if (!port) throw new Error('fine-tune-thread.worker.ts runs only as a worker thread');
const { backend } = workerData as { backend?: string };
const ready = selectBackend({ force: backend });

async function run(req: FineTuneRequest): Promise<FineTuneReply> {
  await ready;
  const loaded = await decodeModel(filesFromClone(req.base), { source: `fine-tune base ${req.baseVersion}` });
  const base = new NeuralPredictor(loaded.model, loaded.preprocessor, req.baseVersion);
  try {
    const result = await fineTune(base, req.bars as readonly OhlcvBar[], req.version, req.config as FineTuneConfig);
    try {
      const files = await encodeModel(result.predictor.model, result.predictor.preprocessor);
      return { id: req.id, ok: true, files, report: result.report, heldOut: result.heldOut };
    } finally {
      result.predictor.dispose();
    }
  } finally {
    base.dispose();
  }
}

port.on('message', (req: FineTuneRequest) => {
  run(req)
    .then((reply) => port.postMessage(reply))
    .catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const retryable = e instanceof FineTuneUnavailableError ? e.retryable : true;
      port.postMessage({ id: req.id, ok: false, name: e.name, message: e.message, retryable } satisfies FineTuneReply);
    });
});
