import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from '../../config/index.ts';
import { activateVersion, registerCandidate } from './registry.ts';
import { GLOBAL_SCOPE } from './versions.ts';
import { synthBars } from '../../market/index.ts';
import { selectBackend, type FeatureSpec } from '../../models/index.ts';
import { DEFAULT_PRETRAIN, pretrainRegimeModels, type PretrainSeries } from '../prediction/index.ts';
import type { Db } from '../../sql/index.ts';
import { KV_BUCKETS, modelActiveSchema, openBucket } from '../../streams/index.ts';

export type Phase1Options = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  spec: FeatureSpec;
  /** History to pretrain on: defaults to a synthetic market that is NOT the one replayed live. */
  history?: readonly PretrainSeries[];
  seed?: number;
  epochs?: number;
  backend?: string | undefined;
};

export type Phase1Result = { skipped: boolean; reason: string; versions: string[] };

/** The seeded synthetic history Phase 1 trains on by default: other symbols, an earlier period, another seed. */
export function defaultPretrainHistory(seed: number): PretrainSeries[] {
  const bySymbol = new Map<string, PretrainSeries['bars'][number][]>();
  for (const b of synthBars({ symbols: 4, minutes: 3_000, seed: seed + 10_007, start: Date.UTC(2023, 0, 2) })) {
    const list = bySymbol.get(b.symbol) ?? [];
    list.push(b);
    bySymbol.set(b.symbol, list);
  }
  return [...bySymbol].map(([name, bars]) => ({ name: `pretrain-${name}`, bars }));
}

/**
 * Phase 1, offline pretraining: one small model per market regime (cold start),
 * registered in the model registry and activated for every symbol (KV key
 * `default`). Skipped when pretrained versions are already active.
 */
export async function runPhase1(opts: Phase1Options): Promise<Phase1Result> {
  const log = opts.log.child({ actor: 'phase1' });
  const kv = await openBucket(opts.nc, KV_BUCKETS.modelActive);
  const entry = await kv.get('default');
  if (entry && entry.operation === 'PUT') {
    const parsed = modelActiveSchema.safeParse(entry.json());
    if (parsed.success && Object.keys(parsed.data.pretrained).length > 0) {
      const versions = Object.values(parsed.data.pretrained);
      log.info({ versions }, 'phase 1 skipped: pretrained versions already active');
      return { skipped: true, reason: 'pretrained versions already active', versions };
    }
  }
  const backend = await selectBackend({ force: opts.backend, log });
  const seed = opts.seed ?? 42;
  const started = Date.now();
  const result = await pretrainRegimeModels(
    opts.history ?? defaultPretrainHistory(seed),
    { ...DEFAULT_PRETRAIN, spec: opts.spec, seed, epochs: opts.epochs ?? DEFAULT_PRETRAIN.epochs, versionPrefix: `phase1-s${seed}` },
    { log },
  );
  const env = { db: opts.db, kv, js: jetstream(opts.nc), log };
  const versions: string[] = [];
  for (const m of result.models) {
    const version = await registerCandidate(opts.db, {
      scope: GLOBAL_SCOPE,
      role: 'pretrained',
      kind: 'mlp',
      regime: m.regime,
      runId: m.version,
      artifact: m.packed,
      params: { spec: opts.spec, backend: backend.backend },
      metrics: { ...m.metrics },
    });
    await activateVersion(env, { version, reason: `phase 1 pretraining (regime ${m.regime})`, actor: 'phase1' });
    versions.push(version);
    m.predictor.dispose();
  }
  log.info({ versions, windowsPerRegime: result.windowsPerRegime, ms: Date.now() - started }, 'phase 1 done: pretrained models active');
  return { skipped: false, reason: `trained ${versions.length} regime models in ${((Date.now() - started) / 1000).toFixed(1)} s`, versions };
}
