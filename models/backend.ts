import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { Logger } from '../config/index.ts';
import { BackendUnavailableError } from './errors.ts';
import { patchWasmTransposedMatMul } from './wasm-matmul.ts';

/** Backends in order of preference (docs/architecture.md). */
export const BACKEND_ORDER = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** What was tried, and why a backend was passed over. */
export type BackendAttempt = { backend: BackendName; ok: boolean; reason?: string };

export type BackendChoice = {
  backend: BackendName;
  /** The name TensorFlow.js knows it by (`tf.getBackend()`). */
  tfName: string;
  /** `forced` when the `force` option (the TFJS_BACKEND setting) named it. */
  how: 'auto' | 'forced';
  attempts: BackendAttempt[];
  /** Worker threads of the wasm backend (1 = single-threaded). */
  threads?: number;
};

type Candidate = { tfName: string; load: () => Promise<void> };

const require = createRequire(import.meta.url);

// Specifiers held in variables: the native packages are optional and usually absent,
// so neither TypeScript nor a bundler should try to resolve them.
async function importOptional(specifier: string): Promise<void> {
  await import(specifier);
}

const CANDIDATES: Record<BackendName, Candidate> = {
  // Both native packages register themselves under the name 'tensorflow'.
  'tensorflow-gpu': { tfName: 'tensorflow', load: () => importOptional('@tensorflow/tfjs-node-gpu') },
  tensorflow: { tfName: 'tensorflow', load: () => importOptional('@tensorflow/tfjs-node') },
  wasm: {
    tfName: 'wasm',
    load: async () => {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      // Load the .wasm binaries from the installed package on disk, never from a CDN.
      wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
    },
  },
  cpu: { tfName: 'cpu', load: async () => undefined },
};

function reasonOf(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(msg)) return 'package not installed';
  return msg.split('\n')[0] ?? msg;
}

/** Parses a backend name from configuration (TFJS_BACKEND); undefined = choose automatically. */
export function parseBackendName(value: string | undefined): BackendName | undefined {
  if (value === undefined || value === '') return undefined;
  if ((BACKEND_ORDER as readonly string[]).includes(value)) return value as BackendName;
  throw new BackendUnavailableError(`unknown TensorFlow.js backend ${JSON.stringify(value)}; use one of ${BACKEND_ORDER.join(', ')}`);
}

async function tryBackend(name: BackendName): Promise<BackendAttempt> {
  const candidate = CANDIDATES[name];
  try {
    await candidate.load();
  } catch (err) {
    return { backend: name, ok: false, reason: reasonOf(err) };
  }
  try {
    // setBackend resolves false when the backend is registered but fails to initialise.
    const ok = await tf.setBackend(candidate.tfName);
    if (!ok) return { backend: name, ok: false, reason: `tf.setBackend('${candidate.tfName}') returned false` };
    await tf.ready();
    return { backend: name, ok: true };
  } catch (err) {
    return { backend: name, ok: false, reason: reasonOf(err) };
  }
}

async function wasmThreads(): Promise<number | undefined> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    return wasm.getThreadsCount();
  } catch {
    return undefined;
  }
}

/**
 * Selects and initialises the TensorFlow.js backend: the first of
 * `tensorflow-gpu`, `tensorflow`, `wasm`, `cpu` that loads, unless `force`
 * (the caller passes `settings.TFJS_BACKEND`) names one, in which case that one must
 * load or this throws `BackendUnavailableError`. Reads no environment itself.
 * Logs the backend in use and why the others were passed over.
 */
export async function selectBackend(options: { force?: string | undefined; log?: Logger } = {}): Promise<BackendChoice> {
  const forced = parseBackendName(options.force);
  const order: readonly BackendName[] = forced ? [forced] : BACKEND_ORDER;
  const attempts: BackendAttempt[] = [];
  for (const name of order) {
    const attempt = await tryBackend(name);
    attempts.push(attempt);
    if (!attempt.ok) continue;
    const choice: BackendChoice = { backend: name, tfName: CANDIDATES[name].tfName, how: forced ? 'forced' : 'auto', attempts };
    if (name === 'wasm') {
      const threads = await wasmThreads();
      if (threads !== undefined) choice.threads = threads;
      patchWasmTransposedMatMul();
    }
    options.log?.info(
      { backend: name, how: choice.how, threads: choice.threads, passedOver: attempts.filter((a) => !a.ok) },
      'tensorflow.js backend selected',
    );
    return choice;
  }
  const why = attempts.map((a) => `${a.backend}: ${a.reason ?? 'failed'}`).join('; ');
  throw new BackendUnavailableError(
    forced ? `TFJS_BACKEND=${forced} cannot be used here (${why})` : `no TensorFlow.js backend could be initialised (${why})`,
  );
}
