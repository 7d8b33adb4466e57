import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/index.ts';
import { decodeModel, encodeModel, NeuralPredictor, packArtifact, type OhlcvBar, type Predictor } from '../../models/index.ts';
import { FineTuneUnavailableError, type FineTuneConfig, type FineTuneResult } from './fine-tune.ts';
import type { PretrainConfig, PretrainedModel, PretrainResult, PretrainSeries } from './pretrain.ts';
import { filesFromClone, type TrainingReply, type TrainingRequest } from './training-thread.messages.ts';

/** Fine-tunes a copy of `base` on `bars` (in process, or in a worker thread). */
export type FineTuneRunner = (base: Predictor, bars: readonly OhlcvBar[], version: string, config: FineTuneConfig) => Promise<FineTuneResult>;

const ENTRY = new URL('./training-thread.worker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
// A worker thread does not inherit the TypeScript loader of the thread that starts it:
// it registers tsx itself, then loads its entry.
const BOOT = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); });`;

type Job = { req: TrainingRequest; timeoutMs: number; resolve: (r: TrainingReply) => void; reject: (e: Error) => void };
type Running = { id: number; resolve: (r: TrainingReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** Phase 1 pretraining takes minutes on big histories; a fine-tune, seconds. */
const PRETRAIN_TIMEOUT_MS = 30 * 60_000;

/**
 * Runs training (fine-tunes, Phase 1 pretraining) in one worker thread with its
 * own TensorFlow.js backend: the thread that ingests and predicts only encodes the
 * base model, hands over the bars and decodes the result (milliseconds), while the
 * training itself (seconds) runs on the other core. Jobs wait in a bounded queue (`maxQueue`, 32) and run
 * one at a time, each timed from its start. The worker starts on the first job
 * and is replaced after a crash or a job that overran `timeoutMs`.
 */
export class TrainingThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly queue: Job[] = [];
  private running: Running | undefined;
  private closed = false;

  constructor(private readonly opts: { log: Logger; backend?: string | undefined; timeoutMs?: number; maxQueue?: number }) {}

  /** The runner to hand to the fine-tuner. */
  readonly fineTune: FineTuneRunner = async (base, bars, version, config) => {
    if (!(base instanceof NeuralPredictor)) throw new FineTuneUnavailableError(`a ${base.kind} model has no weights to fine-tune`, { retryable: false });
    if (this.closed) throw new FineTuneUnavailableError('the training thread is closed', { retryable: true });
    const files = await encodeModel(base.model, base.preprocessor);
    const reply = await this.send({ type: 'fine-tune', id: this.nextId++, base: files, baseVersion: base.version ?? base.preprocessor.runId, version, bars, config });
    if (!reply.ok) throw new FineTuneUnavailableError(`${reply.name}: ${reply.message}`, { retryable: reply.retryable });
    if (reply.type !== 'fine-tune') throw new Error(`training thread answered a fine-tune with a ${reply.type} reply`);
    const loaded = await decodeModel(filesFromClone(reply.files), { source: `fine-tuned ${version}` });
    return { predictor: new NeuralPredictor(loaded.model, loaded.preprocessor, version), report: reply.report, heldOut: reply.heldOut };
  };

  /** Phase 1: `pretrainRegimeModels` on the worker; the models come back decoded, ready to serve. */
  readonly pretrain = async (series: readonly PretrainSeries[], config: PretrainConfig): Promise<PretrainResult> => {
    if (this.closed) throw new Error('the training thread is closed');
    const reply = await this.send({ type: 'pretrain', id: this.nextId++, series, config }, PRETRAIN_TIMEOUT_MS);
    if (!reply.ok) {
      const err = new Error(`pretraining failed in the training thread: ${reply.message}`);
      err.name = reply.name;
      throw err;
    }
    if (reply.type !== 'pretrain') throw new Error(`training thread answered a pretrain with a ${reply.type} reply`);
    const models: PretrainedModel[] = [];
    for (const m of reply.models) {
      const files = filesFromClone(m.files);
      const loaded = await decodeModel(files, { source: `pretrained ${m.version}` });
      models.push({ regime: m.regime, version: m.version, predictor: new NeuralPredictor(loaded.model, loaded.preprocessor, m.version), files, packed: packArtifact(files), metrics: m.metrics });
    }
    return { models, windowsPerRegime: reply.windowsPerRegime, fallbackRegimes: reply.fallbackRegimes };
  };

  /** Queues the job; the worker runs one job at a time, its timeout counted from when it starts. */
  private send(req: TrainingRequest, timeoutMs = this.opts.timeoutMs ?? 180_000): Promise<TrainingReply> {
    const maxQueue = this.opts.maxQueue ?? 32;
    if (this.queue.length >= maxQueue) {
      return Promise.reject(new FineTuneUnavailableError(`the training queue is full (${maxQueue} waiting)`, { retryable: true }));
    }
    return new Promise<TrainingReply>((resolve, reject) => {
      this.queue.push({ req, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  /** Jobs waiting for the worker (not counting the one it runs). */
  queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const job = this.queue.shift();
    if (!job) return;
    const worker = this.ensureWorker();
    const { timeoutMs } = job;
    const what = job.req.type === 'fine-tune' ? `fine-tune ${job.req.version}` : 'pretraining';
    const timer = setTimeout(() => {
      this.settle(job.req.id, undefined, new FineTuneUnavailableError(`${what} overran ${timeoutMs} ms; its worker was replaced`, { retryable: true }));
      this.replace(worker);
    }, timeoutMs);
    timer.unref();
    this.running = { id: job.req.id, resolve: job.resolve, reject: job.reject, timer };
    worker.postMessage(job.req);
  }

  /** Ends the running job (with its reply or an error) and starts the next. */
  private settle(id: number, reply: TrainingReply | undefined, err?: Error): void {
    const p = this.running;
    if (!p || p.id !== id) return;
    clearTimeout(p.timer);
    this.running = undefined;
    if (reply) p.resolve(reply);
    else p.reject(err ?? new Error('training job ended without a reply'));
    this.pump();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(BOOT, { eval: true, workerData: { backend: this.opts.backend } });
    // An idle worker must not keep a finished process alive.
    worker.unref();
    worker.on('message', (reply: TrainingReply) => this.settle(reply.id, reply));
    worker.on('error', (err) => {
      this.opts.log.error({ err }, 'training worker failed');
      if (this.worker !== worker) return; // an old worker, already replaced
      this.replace(worker);
      if (this.running) this.settle(this.running.id, undefined, new FineTuneUnavailableError(`training worker failed: ${err.message}`, { retryable: true, cause: err }));
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // replaced: its job was settled then
      this.worker = undefined;
      if (this.running) this.settle(this.running.id, undefined, new FineTuneUnavailableError(`training worker exited (code ${code})`, { retryable: true }));
    });
    this.worker = worker;
    return worker;
  }

  private replace(worker: Worker): void {
    if (this.worker === worker) this.worker = undefined;
    worker.terminate().catch(() => undefined);
  }

  private failAll(err: Error): void {
    const running = this.running;
    this.running = undefined;
    if (running) {
      clearTimeout(running.timer);
      running.reject(err);
    }
    for (const job of this.queue.splice(0)) job.reject(err);
  }

  /** Ends the worker; jobs in flight fail (retryable). */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll(new FineTuneUnavailableError('the training thread was closed', { retryable: true }));
    if (w) await w.terminate();
  }
}
