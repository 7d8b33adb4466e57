import { Worker } from 'node:worker_threads';
import type { Logger } from '../../config/index.ts';
import { decodeModel, encodeModel, NeuralPredictor, type OhlcvBar, type Predictor } from '../../models/index.ts';
import { FineTuneUnavailableError, type FineTuneConfig, type FineTuneResult } from './fine-tune.ts';
import { filesFromClone, type FineTuneReply, type FineTuneRequest } from './fine-tune-thread.messages.ts';

/** Fine-tunes a copy of `base` on `bars` (in process, or in a worker thread). */
export type FineTuneRunner = (base: Predictor, bars: readonly OhlcvBar[], version: string, config: FineTuneConfig) => Promise<FineTuneResult>;

const ENTRY = new URL('./fine-tune-thread.worker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
// A worker thread does not inherit the TypeScript loader of the thread that starts it:
// it registers tsx itself, then loads its entry.
const BOOT = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); });`;

type Job = { req: FineTuneRequest; resolve: (r: FineTuneReply) => void; reject: (e: Error) => void };
type Running = { id: number; resolve: (r: FineTuneReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/**
 * Runs fine-tunes in one worker thread with its own TensorFlow.js backend: the
 * thread that ingests and predicts only encodes the base model, hands over the
 * bars and decodes the result (milliseconds), while the training itself (seconds)
 * runs on the other core. Jobs wait in a bounded queue (`maxQueue`, 32) and run
 * one at a time, each timed from its start. The worker starts on the first job
 * and is replaced after a crash or a job that overran `timeoutMs`.
 */
export class FineTuneThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly queue: Job[] = [];
  private running: Running | undefined;
  private closed = false;

  constructor(private readonly opts: { log: Logger; backend?: string | undefined; timeoutMs?: number; maxQueue?: number }) {}

  /** The runner to hand to the fine-tuner. */
  readonly run: FineTuneRunner = async (base, bars, version, config) => {
    if (!(base instanceof NeuralPredictor)) throw new FineTuneUnavailableError(`a ${base.kind} model has no weights to fine-tune`, { retryable: false });
    if (this.closed) throw new FineTuneUnavailableError('the fine-tune thread is closed', { retryable: true });
    const files = await encodeModel(base.model, base.preprocessor);
    const id = this.nextId++;
    const req: FineTuneRequest = { id, base: files, baseVersion: base.version ?? base.preprocessor.runId, version, bars, config };
    const reply = await this.send(req);
    if (!reply.ok) throw new FineTuneUnavailableError(`${reply.name}: ${reply.message}`, { retryable: reply.retryable });
    const loaded = await decodeModel(filesFromClone(reply.files), { source: `fine-tuned ${version}` });
    return { predictor: new NeuralPredictor(loaded.model, loaded.preprocessor, version), report: reply.report, heldOut: reply.heldOut };
  };

  /** Queues the job; the worker runs one job at a time, its timeout counted from when it starts. */
  private send(req: FineTuneRequest): Promise<FineTuneReply> {
    const maxQueue = this.opts.maxQueue ?? 32;
    if (this.queue.length >= maxQueue) {
      return Promise.reject(new FineTuneUnavailableError(`the fine-tune queue is full (${maxQueue} waiting)`, { retryable: true }));
    }
    return new Promise<FineTuneReply>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
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
    const timeoutMs = this.opts.timeoutMs ?? 180_000;
    const timer = setTimeout(() => {
      this.settle(job.req.id, undefined, new FineTuneUnavailableError(`fine-tune ${job.req.version} overran ${timeoutMs} ms; its worker was replaced`, { retryable: true }));
      this.replace(worker);
    }, timeoutMs);
    timer.unref();
    this.running = { id: job.req.id, resolve: job.resolve, reject: job.reject, timer };
    worker.postMessage(job.req);
  }

  /** Ends the running job (with its reply or an error) and starts the next. */
  private settle(id: number, reply: FineTuneReply | undefined, err?: Error): void {
    const p = this.running;
    if (!p || p.id !== id) return;
    clearTimeout(p.timer);
    this.running = undefined;
    if (reply) p.resolve(reply);
    else p.reject(err ?? new Error('fine-tune ended without a reply'));
    this.pump();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(BOOT, { eval: true, workerData: { backend: this.opts.backend } });
    // An idle worker must not keep a finished process alive.
    worker.unref();
    worker.on('message', (reply: FineTuneReply) => this.settle(reply.id, reply));
    worker.on('error', (err) => {
      this.opts.log.error({ err }, 'fine-tune worker failed');
      if (this.worker !== worker) return; // an old worker, already replaced
      this.replace(worker);
      if (this.running) this.settle(this.running.id, undefined, new FineTuneUnavailableError(`fine-tune worker failed: ${err.message}`, { retryable: true, cause: err }));
    });
    worker.on('exit', (code) => {
      if (this.worker !== worker) return; // replaced: its job was settled then
      this.worker = undefined;
      if (this.running) this.settle(this.running.id, undefined, new FineTuneUnavailableError(`fine-tune worker exited (code ${code})`, { retryable: true }));
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
    this.failAll(new FineTuneUnavailableError('the fine-tune thread was closed', { retryable: true }));
    if (w) await w.terminate();
  }
}
