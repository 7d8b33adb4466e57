// The training worker thread (training-thread.ts): its own event loop and its own
// TensorFlow.js backend, so training never holds up the ticks, bars and predictions
// of the main thread. The main thread sends one job at a time; every job answers with
// a result or an error.
import { parentPort, workerData } from 'node:worker_threads';
import { decodeModel, encodeModel, NeuralPredictor, selectBackend, type OhlcvBar } from '../../models/index.ts';
import { fineTune, FineTuneUnavailableError, type FineTuneConfig } from './fine-tune.ts';
import { pretrainRegimeModels } from './pretrain.ts';
import { filesFromClone, type FineTuneReply, type FineTuneRequest, type PretrainReply, type PretrainRequest, type TrainingReply, type TrainingRequest } from './training-thread.messages.ts';

const port = parentPort;
if (!port) throw new Error('training-thread.worker.ts runs only as a worker thread');
const { backend } = workerData as { backend?: string };
const ready = selectBackend({ force: backend });

async function fineTuneJob(req: FineTuneRequest): Promise<FineTuneReply> {
  await ready;
  const loaded = await decodeModel(filesFromClone(req.base), { source: `fine-tune base ${req.baseVersion}` });
  const base = new NeuralPredictor(loaded.model, loaded.preprocessor, req.baseVersion);
  try {
    const result = await fineTune(base, req.bars as readonly OhlcvBar[], req.version, req.config as FineTuneConfig);
    try {
      const files = await encodeModel(result.predictor.model, result.predictor.preprocessor);
      return { id: req.id, ok: true, type: 'fine-tune', files, report: result.report, heldOut: result.heldOut };
    } finally {
      result.predictor.dispose();
    }
  } finally {
    base.dispose();
  }
}

async function pretrainJob(req: PretrainRequest): Promise<PretrainReply> {
  await ready;
  const result = await pretrainRegimeModels(req.series, req.config);
  try {
    return {
      id: req.id,
      ok: true,
      type: 'pretrain',
      models: result.models.map((m) => ({ regime: m.regime, version: m.version, files: m.files, metrics: m.metrics })),
      windowsPerRegime: result.windowsPerRegime,
      fallbackRegimes: result.fallbackRegimes,
    };
  } finally {
    for (const m of result.models) m.predictor.dispose();
  }
}

port.on('message', (req: TrainingRequest) => {
  (req.type === 'pretrain' ? pretrainJob(req) : fineTuneJob(req))
    .then((reply: TrainingReply) => port.postMessage(reply))
    .catch((err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      const retryable = e instanceof FineTuneUnavailableError ? e.retryable : true;
      port.postMessage({ id: req.id, ok: false, name: e.name, message: e.message, retryable } satisfies TrainingReply);
    });
});
