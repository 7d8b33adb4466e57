import { DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import { DEFAULT_SIGNAL_SETTINGS, NeuralPredictor, specOf, type FeatureSpec } from '../../models/index.ts';
import {
  HybridEngine,
  servesSpec,
  type EngineOutput,
  type FineTuneTrigger,
  type HybridEngineConfig,
  type ModelSource,
  type QualityLookup,
  type WeightKeeperFactory,
  type LiveOutcome,
} from './index.ts';
import { readBars, type Db } from '../../sql/index.ts';
import {
  ackPublisher,
  deadLetter,
  ensureDurable,
  ensureTopology,
  resumeFromAckFloor,
  startBatchConsumer,
  subjects,
  type AckPublisher,
  type BatchConsumerHandle,
  type PulledMsg,
  type WorkClaims,
} from '../../streams/index.ts';
import type { BarLane } from '../ingest/index.ts';
import { createConfidenceWeighters, createPersistentWeighters, type PersistentWeighters } from './confidence-weighter.effects.ts';
import type { PredictorEvent } from './predictor.machine.ts';
import { createBatchHandler, type BatchResult } from './predictor-batch.ts';
import { createCatchUpReader } from './predictor-catch-up.ts';
import { PredictorFastLane, type FastLaneOutcome } from './predictor-fast-lane.ts';
import { publishOutputs, type PublishedCounts } from './predictor-outputs.ts';
import { PredictorOwnership } from './predictor-ownership.ts';
import { createRetrainListener } from './predictor-retrain.ts';

export { CATCH_UP_WARN_BARS } from './predictor-catch-up.ts';
export { predictionClaimKey, REBALANCE_STABLE_TTLS } from './predictor-ownership.ts';

/** A bar whose handling failed this many times (each one a crash and supervised restart) is dead-lettered. */
export const POISON_MAX_FAILURES = 3;

/** Scale-out: a per-process durable with no reader for this long (its process died) is deleted by the server. */
export const PROCESS_DURABLE_INACTIVE_MS = 300_000;

/** Feature layout when no pretrained model says otherwise. */
export const DEFAULT_PREDICTOR_SPEC: FeatureSpec = { lookback: 24, horizon: 1, volWindow: 30, context: false };

export type PredictorDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  models: ModelSource;
  /** Durable consumer on MD_BARS (default `predictor`; with `claims`, `predictor-<process token>`). */
  durable?: string;
  /**
   * Scale-out: this process reads every bar through its own durable and predicts
   * only the symbols it holds a claim on (`pred.<venue>.<symbol>`, claimed on
   * first sight, taken over from a dead process). A symbol acquired is first
   * caught up: its stored bars after its last stored prediction are predicted
   * before its new ones.
   */
  claims?: WorkClaims;
  /** Feature layout; default: that of the pretrained models (the longest lookback), else DEFAULT_PREDICTOR_SPEC. */
  spec?: FeatureSpec;
  engine?: Partial<Omit<HybridEngineConfig, 'spec'>>;
  /** Data health per symbol (default: none known; the system passes its quality board's). */
  quality?: QualityLookup;
  /** Weight keepers (default: one confidence-weighter machine per symbol). */
  weightKeeper?: WeightKeeperFactory;
  /** Bars read from `bars_1m` to warm a symbol up when the predictor first sees it (0 = none). */
  preloadBars?: number;
  /**
   * Failed handlings per MD_BARS stream sequence. A failure crashes the predictor, so the
   * count must outlive it: the supervisor that restarts it passes the same map each time
   * (default: a map of this predictor's own, for a predictor nothing restarts).
   */
  poisonFailures?: Map<number, number>;
  /** Fine-tune requests go here (the service hands them to the fineTuner actor). */
  onTriggers?: (triggers: readonly { trigger: FineTuneTrigger; requestId?: string }[]) => void;
  /** Realised outcomes of the served components (the lifecycle's live skill and automatic rollback). */
  onOutcome?: (o: LiveOutcome) => void;
  /** Failed handlings of a bar (each a crash and restart) before it is dead-lettered (default POISON_MAX_FAILURES). */
  poisonMaxFailures?: number;
  /** Bars handed over by this process's marketSync ahead of their commit (see BarLane). */
  lane?: BarLane;
  /** Listen to `model.retrain.cmd` (default true). */
  retrainCommands?: boolean;
  now?: () => number;
};

/** The feature spec the served models need: their common layout with the longest lookback. */
export function specFor(models: ModelSource): FeatureSpec | undefined {
  const neural = models.snapshot('_', '_').pretrained.map((m) => m.predictor).filter((p) => p instanceof NeuralPredictor);
  const first = neural[0];
  if (!first) return undefined;
  return { ...specOf(first.preprocessor), lookback: Math.max(...neural.map((p) => p.lookback)) };
}
/** The engine of one predictor and, by default, its weighters persisted in actor_snapshots. */
function createEngine(deps: PredictorDeps, log: Logger, spec: FeatureSpec): { engine: HybridEngine; weighters: PersistentWeighters | undefined } {
  // The published horizons are the operator's (SIGNAL_HORIZONS) unless the caller sets its own signal settings.
  const signals = deps.engine?.signals ?? { ...DEFAULT_SIGNAL_SETTINGS, horizons: deps.settings.SIGNAL_HORIZONS };
  const engineConfig = { ...deps.engine, spec, signals };
  // Default: one confidence-weighter machine per symbol, persisted in actor_snapshots (a restart resumes the weights).
  const weighters = deps.weightKeeper ? undefined : createPersistentWeighters({ db: deps.db, log, ...(deps.engine?.weighter ? { config: deps.engine.weighter } : {}) });
  const weightKeeper = deps.weightKeeper ?? weighters?.factory ?? createConfidenceWeighters(deps.engine?.weighter);
  const engine = new HybridEngine(deps.models, engineConfig, { weightKeeper, ...(deps.now ? { now: deps.now } : {}), ...(deps.onOutcome ? { onOutcome: deps.onOutcome } : {}) });
  return { engine, weighters };
}

type SendBack = (event: PredictorEvent) => void;

/**
 * One predictor's effects and the state they share: the engine and weighters,
 * the scale-out bookkeeping, the fast lane, and the durable path's batch handler.
 */
class PredictorEffects {
  readonly engine: HybridEngine;
  readonly weighters: PersistentWeighters | undefined;
  private readonly settings: Settings;
  private readonly log: Logger;
  private readonly durable: string;
  private readonly js: AckPublisher;
  private readonly spec: FeatureSpec;
  private readonly preloadBars: number;
  private readonly poisonFailures: Map<number, number>;
  /** Scale-out only (with `claims`). */
  private readonly ownership: PredictorOwnership | undefined;
  private readonly fastLane: PredictorFastLane | undefined;
  private readonly handle: (batch: PulledMsg[]) => Promise<BatchResult>;
  private readonly onRetrainCommand: (data: Uint8Array) => void;
  /** Set by `consume` while it runs: reports what the fast lane did. */
  private laneOutcome: ((o: FastLaneOutcome) => void) | undefined;

  constructor(private readonly deps: PredictorDeps) {
    this.settings = deps.settings;
    this.log = deps.log.child({ actor: 'predictor' });
    this.durable = deps.durable ?? (deps.claims ? `predictor-${deps.claims.token}` : 'predictor');
    this.ownership = deps.claims ? new PredictorOwnership(deps.claims, { claimTtlMs: deps.settings.CLAIM_TTL_MS }) : undefined;
    this.js = ackPublisher(deps.nc);
    this.spec = deps.spec ?? specFor(deps.models) ?? DEFAULT_PREDICTOR_SPEC;
    const { engine, weighters } = createEngine(deps, this.log, this.spec);
    this.engine = engine;
    this.weighters = weighters;
    // Without a quality supervisor in this process (a scale-out standby, a test) no symbol's health is known.
    const quality: QualityLookup = deps.quality ?? (() => undefined);
    this.preloadBars = deps.preloadBars ?? Math.max(engine.historyNeeded, 120);
    this.poisonFailures = deps.poisonFailures ?? new Map<number, number>();
    for (const m of deps.models.snapshot('_', '_').pretrained) {
      if (!servesSpec(m, this.spec)) this.log.warn({ version: m.version, spec: this.spec }, 'a pretrained model does not match the feature layout; it will give wrong forecasts');
    }
    const publish = (outputs: readonly EngineOutput[]) => publishOutputs({ js: this.js, db: deps.db, weighters }, outputs);
    this.fastLane = deps.lane ? this.createFastLane(quality, publish) : undefined;
    this.handle = createBatchHandler({
      db: deps.db,
      js: this.js,
      log: this.log,
      engine,
      quality,
      weighters,
      preloadBars: this.preloadBars,
      maxPayloadBytes: deps.settings.MAX_PAYLOAD_BYTES,
      now: () => deps.now?.() ?? Date.now(),
      ownership: this.ownership,
      readCatchUp: createCatchUpReader({ db: deps.db, engine, weighters, log: this.log, preloadBars: this.preloadBars }),
      fastLane: this.fastLane,
      publish,
      onTriggers: deps.onTriggers,
    });
    this.onRetrainCommand = createRetrainListener({ engine, js: this.js, log: this.log, onTriggers: deps.onTriggers });
  }

  private createFastLane(quality: QualityLookup, publish: (outputs: readonly EngineOutput[]) => Promise<PublishedCounts>): PredictorFastLane {
    const ownership = this.ownership;
    return new PredictorFastLane({
      engine: this.engine,
      quality,
      log: this.log,
      accepts: (venue, symbol) => ownership?.accepts(venue, symbol) ?? true,
      publish: (outputs) => (ownership ? ownership.lanePublication(() => publish(outputs)) : publish(outputs)),
      onTriggers: (triggers) => this.deps.onTriggers?.(triggers.map((trigger) => ({ trigger }))),
      onOutcome: (o) => this.laneOutcome?.(o),
    });
  }

  /** Topology and the durable on MD_BARS, resumed from its ack floor after an unclean stop. */
  async prepare(): Promise<void> {
    const { settings, durable } = this;
    const jsm = await ensureTopology(this.deps.nc, {
      maxAgeDays: settings.STREAM_MAX_AGE_DAYS,
      replicas: settings.NATS_REPLICAS,
      maxBytesMb: settings.STREAM_MAX_BYTES_MB,
      duplicateWindowS: settings.DUPLICATE_WINDOW_S,
    });
    // No filter: MD_BARS holds only md.bar.1m.> (see ensureDurable on why a filter costs delivery speed).
    await ensureDurable(jsm, {
      stream: 'MD_BARS',
      durable,
      ackWaitMs: settings.INGEST_ACK_WAIT_MS,
      maxAckPending: 20_000,
      // Scale-out: a new process starts at the live edge (symbols it acquires are caught up from
      // bars_1m) and its durable goes away some time after the process does.
      ...(this.deps.claims ? { deliverPolicy: DeliverPolicy.New, inactiveThresholdMs: PROCESS_DURABLE_INACTIVE_MS } : {}),
    });
    // After a crash (or a supervised restart) the bars in hand come back at once and in order: a bar
    // redelivered after newer ones would find its symbol already past it and never be predicted.
    const resumed = await resumeFromAckFloor(jsm, 'MD_BARS', durable);
    if (resumed) this.log.warn({ durable, ...resumed }, 'resuming from the ack floor after an unclean stop');
    this.log.info({ durable, spec: this.spec, barsNeeded: this.engine.barsNeeded }, 'predictor prepared');
  }

  /**
   * The hot loop: listens to retrain commands, claims and the fast lane, and
   * consumes MD_BARS until `predictor.stop`. Returns the cleanup of the callback actor.
   */
  consume(sendBack: SendBack, receive: (listener: () => void) => void): () => void {
    const { log } = this;
    let sub: Subscription | undefined;
    if (this.deps.retrainCommands ?? true) {
      sub = this.deps.nc.subscribe(subjects.retrainCmd, { callback: (err, msg) => (err ? log.warn({ err }, 'retrain subscription') : this.onRetrainCommand(msg.data)) });
    }
    this.laneOutcome = (o) => sendBack({ type: 'predictor.lane', outcome: o });
    const fastLane = this.fastLane;
    const unlistenLane = fastLane ? this.deps.lane?.listen(fastLane.offer) : undefined;
    const unlisten = this.ownership?.watch();
    const consumer = this.startConsumer(sendBack);
    let stopping = false;
    receive(() => {
      stopping = true;
      sub?.unsubscribe();
      consumer.stop().then(
        () => sendBack({ type: 'predictor.stopped' }),
        (err: unknown) => {
          log.error({ err }, 'predictor consumer did not stop cleanly');
          sendBack({ type: 'predictor.stopped' });
        },
      );
    });
    consumer.done.then(
      (end) => {
        // Back from a NATS outage: prepare again, which resumes the durable from its ack floor.
        if (end === 'reconnected' && !stopping) sendBack({ type: 'predictor.resume' });
      },
      (err: unknown) => {
        if (stopping) return;
        log.error({ err }, 'predictor loop failed');
        sendBack({ type: 'predictor.degraded', reason: err instanceof Error ? err.message : String(err) });
        sendBack({ type: 'predictor.stopped' });
      },
    );
    return () => {
      sub?.unsubscribe();
      unlisten?.();
      unlistenLane?.();
      this.laneOutcome = undefined;
    };
  }

  private startConsumer(sendBack: SendBack): BatchConsumerHandle {
    const { settings, ownership } = this;
    return startBatchConsumer({
      nc: this.deps.nc,
      stream: 'MD_BARS',
      durable: this.durable,
      batchSize: 1_000,
      retryMinMs: settings.RETRY_MIN_MS,
      retryMaxMs: settings.RETRY_MAX_MS,
      ackWaitMs: settings.INGEST_ACK_WAIT_MS,
      log: this.log,
      handle: async (batch) => {
        const r = await this.handle(batch);
        sendBack({ type: 'predictor.batch', outcome: r.outcome });
        return r.ack;
      },
      // A symbol taken over while no bar of it arrives is caught up when idle.
      ...(ownership ? { onIdle: () => this.whenIdle(ownership, sendBack) } : {}),
      onDegraded: (reason) => sendBack({ type: 'predictor.degraded', reason }),
      onRecovered: () => sendBack({ type: 'predictor.recovered' }),
      endOnReconnect: true,
      // A bar that makes the handler throw crashes this actor (its supervisor restarts it) and is dead-lettered after N deliveries.
      poison: {
        maxFailures: this.deps.poisonMaxFailures ?? POISON_MAX_FAILURES,
        failures: this.poisonFailures,
        deadLetter: (msgs, issue) => deadLetter(this.js, msgs.map((msg) => ({ msg, failure: { ok: false, reason: 'poison', issues: [issue] } })), 3, Date.now()),
      },
    });
  }

  /**
   * Scale-out, when the consumer is idle (no batch in hand): rebalancing, then the
   * catch-up of symbols acquired. A symbol is handed over only once this process's
   * last predictions and weighter snapshots of it are stored, so the new owner
   * catches up from exactly there.
   */
  private async whenIdle(ownership: PredictorOwnership, sendBack: SendBack): Promise<void> {
    const handed = await ownership.rebalance();
    if (handed > 0) this.log.info({ handed, owned: ownership.ownedPredictionKeys().length }, 'rebalanced: symbols handed over to their preferred process');
    if (!ownership.catchUpPending) return;
    const r = await this.handle([]);
    if (r.outcome.predictions > 0) sendBack({ type: 'predictor.batch', outcome: r.outcome });
  }

  /**
   * A new symbol's history was stored after its first live bars: warm it up again
   * from bars_1m (history and live bars joined) while it has made no prediction.
   * The read is async; the engine is reset only if no bar of the symbol was
   * stepped meanwhile (else read again), so the reset and the stepping never mix.
   */
  async rewarm(venue: string, symbol: string): Promise<boolean> {
    const { engine } = this;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const last = engine.lastBarTs(venue, symbol);
      if (last === undefined || engine.status(venue, symbol).state !== 'warming_up') return false;
      const bars = await readBars(this.deps.db, venue, symbol, last - (this.preloadBars - 1) * 60_000, last);
      if (engine.lastBarTs(venue, symbol) !== last) continue;
      const done = engine.rewarm(venue, symbol, bars);
      if (done) this.log.info({ venue, symbol, bars: bars.length, status: engine.status(venue, symbol).state }, 'warmed up again from the history joined to the live bars');
      return done;
    }
    return false;
  }
}

/**
 * Effects of the predictor machine: `prepare` (topology and the durable on
 * MD_BARS) and `consume` (the batched hot loop: validate, warm up, one engine
 * step per batch = one predictBatch per model, publish predictions and weights
 * with dedup ids, store, ack).
 */
export function createPredictorActors(deps: PredictorDeps) {
  const effects = new PredictorEffects(deps);
  return {
    prepare: fromPromise<void>(() => effects.prepare()),
    consume: fromCallback<{ type: 'predictor.stop' }>(({ sendBack, receive }) => effects.consume(sendBack, receive)),
    engine: effects.engine,
    weighters: effects.weighters,
    rewarm: (venue: string, symbol: string): Promise<boolean> => effects.rewarm(venue, symbol),
  };
}
