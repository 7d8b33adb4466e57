import { jetstream } from '@nats-io/jetstream';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import type { NatsConnection, QueuedIterator } from '@nats-io/transport-node';
import type { Logger } from '../../config/index.ts';
import { loadPredictor, type Predictor } from '../../models/index.ts';
import type { ModelRole, ModelSnapshot, ModelSource, RolloutServing, ServingModel } from '../prediction/index.ts';
import type { Db } from '../../sql/index.ts';
import { decodeJson, KV_BUCKETS, modelActiveSchema, openBucket, publishJson, subjects, type ModelActive, type RolloutValue } from '../../streams/index.ts';
import type { ModelEvent } from './events.schema.ts';
import { DEFAULT_KEY, scopeOfKvKey } from './versions.ts';

/** Loads a registry version as a warmed predictor (one dummy prediction already made). */
export type ModelLoader = (version: string) => Promise<Predictor>;

/** The default loader: registry bytes -> sha256 check (refused on mismatch) -> decode -> one warm-up prediction. */
export function registryLoader(db: Db): ModelLoader {
  return async (version) => {
    const p = await loadPredictor({ version, db });
    const zeros = Array.from({ length: p.lookback }, () => new Float32Array(p.featureCount));
    p.predict({ ts: 0, rows: zeros });
    return p;
  };
}

/** One key's serving state: the KV value it came from and the loaded models. */
type KeyState = {
  readonly revision: number;
  readonly value: ModelActive;
  readonly pretrained: readonly ServingModel[];
  readonly online: ServingModel | undefined;
  /** The rollout of the key's scope, with its challenger loaded. */
  readonly rollout: { readonly value: RolloutValue; readonly challenger: ServingModel } | undefined;
};

/** Why a KV value was not applied: the key keeps serving what it served before. */
export type Refusal = { key: string; revision: number; role: ModelRole; version: string; reason: string; error: unknown };
/** A swap that happened: `key` now serves `versions`. */
export type Swap = { key: string; revision: number; versions: string[]; loadMs: number; at: number };

export type KvModelSourceOptions = {
  nc: NatsConnection;
  db: Db;
  log: Logger;
  /** Names this process in refusal events. */
  name?: string;
  loader?: ModelLoader;
  /** Publish `model.events.verification_failed` when a version is refused at load (default true). */
  publishRefusals?: boolean;
  /** How long a replaced model stays loaded for predictions already holding a snapshot (default 5 s). */
  disposeAfterMs?: number;
  onSwap?: (swap: Swap) => void;
  onRefused?: (refusal: Refusal) => void;
};

const EMPTY: ModelSnapshot = Object.freeze({ pretrained: Object.freeze([]) as readonly ServingModel[], online: undefined });

/**
 * The production `ModelSource`: watches the KV bucket `model_active`, and for
 * every new value loads the named versions from the registry (sha256 checked),
 * warms each with one prediction, and only then swaps one immutable map
 * reference. `snapshot()` is synchronous, reads that reference once, and returns
 * a frozen object: a prediction sees either the old set or the new one, never a
 * mix, and every ServingModel names its exact version. Loading happens on the
 * event loop between bars (async IO plus one short decode), never inside a
 * predictor's batch. A value that cannot be loaded (missing version, bad
 * checksum) is refused: the key keeps its previous models and an event says why.
 *
 * Lookup: a symbol's key `<venue>.<symbol>` wins per role; a role it does not set
 * comes from `default`.
 */
export class KvModelSource implements ModelSource {
  private states: ReadonlyMap<string, KeyState> = new Map();
  private snapshots = new Map<string, ModelSnapshot>();
  private readonly cache = new Map<string, Promise<Predictor>>();
  private readonly latest = new Map<string, KvWatchEntry>();
  private watcher: QueuedIterator<KvWatchEntry> | undefined;
  private working = false;
  private stopped = false;
  private initialDone = false;
  private readyWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private readonly log: Logger;
  private readonly loader: ModelLoader;
  private readonly pendingDispose = new Set<ReturnType<typeof setTimeout>>();
  readonly name: string;
  /** Counters for status and tests. */
  readonly stats = { swaps: 0, refusals: 0, loads: 0 };

  private constructor(private readonly opts: KvModelSourceOptions) {
    this.log = opts.log.child({ actor: 'kvModelSource', name: opts.name });
    this.loader = opts.loader ?? registryLoader(opts.db);
    this.name = opts.name ?? `pid-${process.pid}`;
  }

  /** Opens the bucket, starts the watch, and resolves once the values present at start are loaded (or refused). */
  static async start(opts: KvModelSourceOptions): Promise<KvModelSource> {
    const source = new KvModelSource(opts);
    const kv = await openBucket(opts.nc, KV_BUCKETS.modelActive);
    await source.watch(kv);
    await source.ready();
    return source;
  }

  snapshot(venue: string, symbol: string): ModelSnapshot {
    const key = `${venue}.${symbol}`;
    const cached = this.snapshots.get(key);
    if (cached) return cached;
    const own = this.states.get(key);
    const def = this.states.get(DEFAULT_KEY);
    const pretrained = own && own.pretrained.length > 0 ? own.pretrained : (def?.pretrained ?? []);
    const online = own?.online ?? def?.online;
    const ro = own?.rollout ?? def?.rollout;
    const rollout: RolloutServing | undefined = ro
      ? Object.freeze({ id: ro.value.id, stage: ro.value.stage, role: ro.value.role, champion: ro.value.champion, challenger: ro.challenger, canary: ro.value.canary.includes(key) })
      : undefined;
    const snap: ModelSnapshot =
      pretrained.length === 0 && online === undefined ? EMPTY : Object.freeze({ pretrained, online, ...(rollout ? { rollout } : {}) });
    this.snapshots.set(key, snap);
    return snap;
  }

  /** The KV value a key currently serves (undefined = nothing applied). */
  serving(key: string): ModelActive | undefined {
    return this.states.get(key)?.value;
  }

  /** Resolves when the values present at start have been handled. */
  async ready(): Promise<void> {
    if (this.initialDone) return;
    await new Promise<void>((r) => this.readyWaiters.push(r));
  }

  /** Resolves when every KV update seen so far has been applied or refused. */
  async idle(): Promise<void> {
    if (!this.working && this.latest.size === 0) return;
    await new Promise<void>((r) => this.idleWaiters.push(r));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.stop();
    await this.idle();
    for (const t of this.pendingDispose) clearTimeout(t);
    this.pendingDispose.clear();
    for (const p of this.cache.values()) {
      p.then((m) => m.dispose(), () => undefined);
    }
    this.cache.clear();
    this.states = new Map();
    this.snapshots = new Map();
  }

  private async watch(kv: KV): Promise<void> {
    const status = await kv.status();
    const iter = await kv.watch();
    this.watcher = iter;
    if (status.values === 0) this.markInitialDone();
    void (async () => {
      for await (const e of iter) {
        this.latest.set(e.key, e);
        // The watch first replays the last value of every key; the one with nothing
        // pending after it (delta 0) ends that replay.
        const initialEnd = !this.initialDone && (e.delta ?? 0) === 0;
        void this.drain(initialEnd);
      }
    })().catch((err: unknown) => this.log.error({ err }, 'model_active watch ended'));
  }

  private markInitialDone(): void {
    if (this.initialDone) return;
    this.initialDone = true;
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** Applies pending entries one at a time; only the newest entry per key is applied. */
  private async drain(initialEnd = false): Promise<void> {
    if (this.working) {
      if (initialEnd) {
        // The running drain will reach this entry; ready once it is idle.
        this.idleWaiters.push(() => this.markInitialDone());
      }
      return;
    }
    this.working = true;
    try {
      for (;;) {
        const next = this.latest.entries().next();
        if (next.done || this.stopped) break;
        const [key, entry] = next.value;
        this.latest.delete(key);
        await this.apply(entry);
      }
    } finally {
      this.working = false;
      if (initialEnd) this.markInitialDone();
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async apply(entry: KvWatchEntry): Promise<void> {
    const key = entry.key;
    if (entry.operation === 'DEL' || entry.operation === 'PURGE') {
      this.swap(key, undefined, { key, revision: entry.revision, versions: [], loadMs: 0, at: Date.now() });
      return;
    }
    const parsed = decodeJson(modelActiveSchema, entry.value, 1_048_576);
    if (!parsed.ok) {
      this.refuse({ key, revision: entry.revision, role: 'pretrained', version: '?', reason: `invalid model_active value: ${parsed.issues.join('; ')}`, error: undefined });
      return;
    }
    const value = parsed.value;
    const t0 = performance.now();
    const wanted: { role: ModelRole; regime: string; version: string }[] = [
      ...Object.entries(value.pretrained).map(([regime, version]) => ({ role: 'pretrained' as const, regime, version })),
      ...(value.online !== undefined ? [{ role: 'online' as const, regime: 'any', version: value.online }] : []),
    ];
    const models: ServingModel[] = [];
    for (const w of wanted) {
      try {
        const predictor = await this.load(w.version);
        models.push(Object.freeze({ role: w.role, version: w.version, regime: w.regime, predictor }));
      } catch (err) {
        this.refuse({ key, revision: entry.revision, role: w.role, version: w.version, reason: err instanceof Error ? err.message : String(err), error: err });
        return;
      }
    }
    const rollout = value.rollout ? await this.loadChallenger(key, entry.revision, value.rollout) : undefined;
    const state: KeyState = Object.freeze({
      revision: entry.revision,
      value,
      pretrained: Object.freeze(models.filter((m) => m.role === 'pretrained')),
      online: models.find((m) => m.role === 'online'),
      rollout,
    });
    const versions = [...wanted.map((w) => w.version), ...(rollout ? [rollout.challenger.version] : [])];
    this.swap(key, state, { key, revision: entry.revision, versions, loadMs: performance.now() - t0, at: Date.now() });
  }

  /**
   * The challenger of a rollout, loaded and warmed like a serving model. One that
   * cannot be loaded is refused on its own: the key serves its active models,
   * without the rollout (the lifecycle sees no paired outcomes and the event says why).
   */
  private async loadChallenger(key: string, revision: number, ro: RolloutValue): Promise<KeyState['rollout']> {
    try {
      const predictor = await this.load(ro.version);
      return Object.freeze({ value: ro, challenger: Object.freeze({ role: ro.role, version: ro.version, regime: ro.regime, predictor }) });
    } catch (err) {
      this.refuse({ key, revision, role: ro.role, version: ro.version, reason: `rollout challenger: ${err instanceof Error ? err.message : String(err)}`, error: err });
      return undefined;
    }
  }

  private load(version: string): Promise<Predictor> {
    let p = this.cache.get(version);
    if (!p) {
      this.stats.loads += 1;
      p = this.loader(version);
      this.cache.set(version, p);
      // A failed load is not cached: a repaired artifact can be tried again.
      p.catch(() => this.cache.delete(version));
    }
    return p;
  }

  /** The one place the serving state changes: a single reference assignment. */
  private swap(key: string, state: KeyState | undefined, swap: Swap): void {
    const next = new Map(this.states);
    if (state) next.set(key, state);
    else next.delete(key);
    const before = this.inUse(this.states);
    this.states = next;
    this.snapshots = new Map();
    this.stats.swaps += 1;
    this.log.info({ key, revision: swap.revision, versions: swap.versions, loadMs: Math.round(swap.loadMs) }, 'models swapped');
    this.scheduleDispose(before);
    this.opts.onSwap?.(swap);
  }

  private inUse(states: ReadonlyMap<string, KeyState>): Set<string> {
    const out = new Set<string>();
    for (const s of states.values()) {
      for (const m of s.pretrained) out.add(m.version);
      if (s.online) out.add(s.online.version);
      if (s.rollout) out.add(s.rollout.challenger.version);
    }
    return out;
  }

  /** Versions no key serves any more are disposed after a grace period (a prediction may still hold them). */
  private scheduleDispose(before: Set<string>): void {
    const t = setTimeout(() => {
      this.pendingDispose.delete(t);
      const now = this.inUse(this.states);
      for (const v of before) {
        if (now.has(v)) continue;
        const p = this.cache.get(v);
        this.cache.delete(v);
        p?.then((m) => m.dispose(), () => undefined);
      }
    }, this.opts.disposeAfterMs ?? 5_000);
    t.unref();
    this.pendingDispose.add(t);
  }

  private refuse(r: Refusal): void {
    this.stats.refusals += 1;
    this.log.error({ key: r.key, version: r.version, reason: r.reason }, 'model refused; the key keeps serving its previous models');
    this.opts.onRefused?.(r);
    if (this.opts.publishRefusals === false) return;
    const event: ModelEvent = {
      kind: 'verification_failed',
      scope: scopeOfKvKey(r.key),
      role: r.role,
      version: r.version,
      reasons: [`refused at load: ${r.reason}`],
      actor: 'kvModelSource',
      at: Date.now(),
      stage: 'load',
      source: this.name,
    };
    publishJson(jetstream(this.opts.nc), { subject: subjects.modelEvent('verification_failed'), payload: event }).catch((err: unknown) =>
      this.log.warn({ err }, 'could not publish the refusal event'),
    );
  }
}
