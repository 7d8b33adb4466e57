import { DeliverPolicy } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { fromCallback, fromPromise } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import { NeuralPredictor, specOf, type FeatureSpec } from '../../models/index.ts';
import {
  HybridEngine,
  servesSpec,
  type EngineOutput,
  weightsMsgId,
  type FineTuneTrigger,
  type HybridEngineConfig,
  type ModelSource,
  type QualityLookup,
  type WeightKeeperFactory,
  type LiveOutcome,
} from './index.ts';
import { insertPredictions, readBars, upsertBars, withTransaction, type Db } from '../../sql/index.ts';
import {
  ackPublisher,
  ensureDurable,
  ensureTopology,
  ORIGIN_HEADER,
  resumeFromAckFloor,
  publishJson,
  publishPipelined,
  retrainCommandSchema,
  subjects,
  type Bar,
  type DecodeFailure,
  type OutboundMessage,
  type Prediction,
  type PulledMsg,
} from '../../streams/index.ts';
import type { BarLane } from '../ingest/index.ts';
import { validateBar } from '../quality/index.ts';
import { startBatchConsumer } from '../../streams/index.ts';
import { createConfidenceWeighters, createPersistentWeighters } from './confidence-weighter.effects.ts';
import { deadLetter } from '../../streams/index.ts';
import type { PredictorBatchOutcome } from './predictor.machine.ts';
import { PredictorFastLane, sameBar, type FastLaneOutcome } from './predictor-fast-lane.ts';
import type { WorkClaims } from '../../streams/index.ts';

/** A bar whose handling failed this many times (each one a crash and supervised restart) is dead-lettered. */
export const POISON_MAX_FAILURES = 3;


/** Scale-out: a per-process durable with no reader for this long (its process died) is deleted by the server. */
export const PROCESS_DURABLE_INACTIVE_MS = 300_000;
/** Scale-out: more catch-up bars than this for one symbol are still predicted, with a warning. */
export const CATCH_UP_WARN_BARS = 10_000;

/**
 * Scale-out: a process must have been seen alive for this many claim TTLs before symbols are handed
 * over to it (rebalancing onto a process that joined later; a flapping process gets nothing).
 */
export const REBALANCE_STABLE_TTLS = 3;

/** The work-claim key of a symbol's predictions. */
export function predictionClaimKey(venue: string, symbol: string): string {
  return `pred.${venue}.${symbol}`;
}

/** Open time of the last stored 1m prediction of a symbol, if any. */
async function lastPredictionTs(db: Db, venue: string, symbol: string): Promise<number | undefined> {
  const r = await db.query<{ ms: string | null }>(
    `SELECT (extract(epoch FROM max(ts)) * 1000)::bigint AS ms FROM predictions WHERE venue = $1 AND symbol = $2 AND horizon = '1m'`,
    [venue, symbol],
  );
  const ms = r.rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

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

/**
 * Effects of the predictor machine: `prepare` (topology and the durable on
 * MD_BARS) and `consume` (the batched hot loop: validate, warm up, one engine
 * step per batch = one predictBatch per model, publish predictions and weights
 * with dedup ids, store, ack).
 */
export function createPredictorActors(deps: PredictorDeps) {
  const { settings } = deps;
  const log = deps.log.child({ actor: 'predictor' });
  const claims = deps.claims;
  const durable = deps.durable ?? (claims ? `predictor-${claims.token}` : 'predictor');
  /** Claim keys acquired whose bars since the last stored prediction are still to be predicted. */
  const catchUp = new Set<string>();
  /** New symbols left to other processes for a while: when first seen, and their first bar seen. */
  const deferred = new Map<string, { at: number; fromTs: number }>();
  /** Symbols claimed after a deferral: catch up from this bar when no prediction is stored yet. */
  const catchUpFrom = new Map<string, number>();
  /** Symbols being handed over to another process right now: not predicted here any more. */
  const leaving = new Set<string>();
  /** Fast-lane publications not finished yet (a symbol is handed over only when none is in flight). */
  let laneInFlight = 0;
  const js = ackPublisher(deps.nc);
  const spec = deps.spec ?? specFor(deps.models) ?? DEFAULT_PREDICTOR_SPEC;
  const engineConfig = { ...deps.engine, spec };
  // Default: one confidence-weighter machine per symbol, persisted in actor_snapshots (a restart resumes the weights).
  const weighters = deps.weightKeeper ? undefined : createPersistentWeighters({ db: deps.db, log, ...(deps.engine?.weighter ? { config: deps.engine.weighter } : {}) });
  const weightKeeper = deps.weightKeeper ?? weighters?.factory ?? createConfidenceWeighters(deps.engine?.weighter);
  const engine = new HybridEngine(deps.models, engineConfig, { weightKeeper, ...(deps.now ? { now: deps.now } : {}), ...(deps.onOutcome ? { onOutcome: deps.onOutcome } : {}) });
  // Without a quality supervisor in this process (a scale-out standby, a test) no symbol's health is known.
  const quality: QualityLookup = deps.quality ?? (() => undefined);
  const preloadBars = deps.preloadBars ?? Math.max(engine.barsNeeded, 120);
  const poisonFailures = deps.poisonFailures ?? new Map<number, number>();
  for (const m of deps.models.snapshot('_', '_').pretrained) {
    if (!servesSpec(m, spec)) log.warn({ version: m.version, spec }, 'a pretrained model does not match the feature layout; it will give wrong forecasts');
  }

  const prepare = fromPromise<void>(async () => {
    const jsm = await ensureTopology(deps.nc, {
      maxAgeDays: settings.STREAM_MAX_AGE_DAYS,
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
      ...(claims ? { deliverPolicy: DeliverPolicy.New, inactiveThresholdMs: PROCESS_DURABLE_INACTIVE_MS } : {}),
    });
    // After a crash (or a supervised restart) the bars in hand come back at once and in order: a bar
    // redelivered after newer ones would find its symbol already past it and never be predicted.
    const resumed = await resumeFromAckFloor(jsm, 'MD_BARS', durable);
    if (resumed) log.warn({ durable, ...resumed }, 'resuming from the ack floor after an unclean stop');
    log.info({ durable, spec, barsNeeded: engine.barsNeeded }, 'predictor prepared');
  });

  /**
   * Scale-out: the bars this process predicts (those of symbols it owns, claiming
   * symbols seen for the first time), preceded by the catch-up bars of symbols
   * just acquired: every stored bar after the symbol's last stored prediction and
   * before its first bar in this batch (or up to the latest stored bar).
   */
  const ownedBars = async (bars: readonly Bar[]): Promise<{ bars: Bar[]; caughtUp: string[] }> => {
    if (!claims) return { bars: [...bars], caughtUp: [] };
    const mine: Bar[] = [];
    for (const b of bars) {
      const key = predictionClaimKey(b.venue, b.symbol);
      if (!claims.knows(key)) {
        const d = deferred.get(key);
        if (!d && claims.preferredOwner(key) !== claims.token) {
          // A new symbol that hashes to another live process (rendezvous hashing over the presence claims) is
          // left to it for up to CLAIM_TTL_MS (then this process claims it and catches up on the bars in between),
          // unless one has it already (then it is watched).
          if (await claims.observe(key)) deferred.set(key, { at: Date.now(), fromTs: b.ts });
        } else if (!d || Date.now() - d.at >= settings.CLAIM_TTL_MS) {
          deferred.delete(key);
          if (d) catchUpFrom.set(key, d.fromTs);
          if (!(await claims.claim(key))) catchUpFrom.delete(key);
        }
      }
      if (claims.owns(key)) mine.push(b);
    }
    const extra: Bar[] = [];
    const caughtUp: string[] = [];
    for (const key of [...catchUp]) {
      if (!claims.owns(key)) {
        catchUp.delete(key);
        continue;
      }
      const [, venue = '', symbol = ''] = key.split('.');
      caughtUp.push(key);
      const stored = await lastPredictionTs(deps.db, venue, symbol);
      // No prediction stored yet: the symbol was warming up (its first live bar warms it up from bars_1m),
      // or this process left it to others for a while and predicts from the first bar it saw.
      const deferredFrom = catchUpFrom.get(key);
      const from = stored !== undefined ? stored + 60_000 : deferredFrom;
      if (from === undefined) continue;
      const firstLive = mine.find((b) => b.venue === venue && b.symbol === symbol);
      const to = firstLive ? firstLive.ts - 60_000 : Number.MAX_SAFE_INTEGER;
      if (to < from) continue;
      const missed = await readBars(deps.db, venue, symbol, from, to);
      const head = missed[0];
      if (!head) continue;
      if (missed.length > CATCH_UP_WARN_BARS) log.warn({ venue, symbol, bars: missed.length }, 'long catch-up after acquiring a symbol');
      // A symbol this process predicted before (and lost) continues from its features: fill them up to the catch-up.
      // Its weights moved on in the process that had it meanwhile: they resume from their snapshot.
      if (engine.knows(venue, symbol)) {
        if (weighters) {
          await weighters.reload([{ venue, symbol }]);
          engine.renewWeights(venue, symbol);
        }
        engine.warmUp(venue, symbol, await readBars(deps.db, venue, symbol, head.ts - preloadBars * 60_000, head.ts - 60_000));
      }
      log.info({ venue, symbol, from: new Date(head.ts).toISOString(), bars: missed.length }, 'catching up an acquired symbol');
      extra.push(...missed);
    }
    return { bars: [...extra, ...mine], caughtUp };
  };

  /**
   * Publishes the predictions (and weights) with dedup ids, saves the weighters,
   * and stores the predictions: before a batch is acked, so a redelivery never
   * scores an outcome twice.
   */
  const publishOutputs = async (outputs: readonly EngineOutput[]) => {
    const out: OutboundMessage[] = [];
    // Weights go out after all the predictions: subscribers wait for the predictions, not for the weights.
    const weights: OutboundMessage[] = [];
    const preds: Prediction[] = [];
    let withheld = 0;
    let replayed = 0;
    for (const o of outputs) {
      if (o.replayed) replayed += 1;
      if (o.withheld) {
        withheld += 1;
        continue;
      }
      const p = o.prediction;
      preds.push(p);
      out.push({ subject: subjects.prediction(p.venue, p.symbol), payload: p, msgId: `${p.venue}:${p.symbol}:${p.ts}:${p.horizon}` });
      if (o.weights) weights.push({ subject: subjects.weights(p.venue, p.symbol), payload: o.weights, msgId: weightsMsgId(o.weights) });
    }
    for (const w of weights) out.push(w);
    await publishPipelined(js, out, 4_096);
    // The weighter snapshots are saved before the predictions are stored: a process that takes the symbol over
    // catches up from the last stored prediction, so the snapshot must never lag behind it (it would miss scoring
    // the outcomes in between).
    await weighters?.flush();
    await insertPredictions(deps.db, preds);
    return { predictions: preds.length, withheld, replayed };
  };

  /** Set by `consume` while it runs: reports what the fast lane did. */
  let laneOutcome: ((o: FastLaneOutcome) => void) | undefined;
  const fastLane = deps.lane
    ? new PredictorFastLane({
        engine,
        quality,
        log,
        accepts: (venue, symbol) => {
          if (!claims) return true;
          const key = predictionClaimKey(venue, symbol);
          return claims.owns(key) && !catchUp.has(key) && !leaving.has(key);
        },
        publish: async (outputs) => {
          laneInFlight += 1;
          try {
            return await publishOutputs(outputs);
          } finally {
            laneInFlight -= 1;
          }
        },
        onTriggers: (triggers) => deps.onTriggers?.(triggers.map((trigger) => ({ trigger }))),
        onOutcome: (o) => laneOutcome?.(o),
      })
    : undefined;

  const handle = async (batch: PulledMsg[]): Promise<{ ack: PulledMsg[]; outcome: PredictorBatchOutcome }> => {
    const t0 = performance.now();
    const now = deps.now?.() ?? Date.now();
    const valid: PulledMsg[] = [];
    const bars: Bar[] = [];
    const external: Bar[] = [];
    const rejected: { msg: PulledMsg; failure: DecodeFailure }[] = [];
    for (const msg of batch) {
      const r = validateBar(msg.subject, msg.data, settings.MAX_PAYLOAD_BYTES);
      if (!r.ok) {
        rejected.push({ msg, failure: r });
        continue;
      }
      valid.push(msg);
      bars.push(r.value);
      if (msg.headers?.get(ORIGIN_HEADER) !== 'market-sync') external.push(r.value);
    }
    await deadLetter(js, rejected, 3, now, { log });
    // Bars from external feeds are stored (marketSync stores its own before publishing).
    if (external.length > 0) await withTransaction(deps.db, (c) => upsertBars(c, external));
    const owned = await ownedBars(bars);
    // A symbol seen for the first time resumes its weights from its snapshot and is warmed up
    // from its stored history (restart, or bars before this predictor).
    const first = new Map<string, Bar>();
    for (const b of owned.bars) if (!first.has(`${b.venue}.${b.symbol}`) && !engine.knows(b.venue, b.symbol)) first.set(`${b.venue}.${b.symbol}`, b);
    await weighters?.preload([...first.values()]);
    if (preloadBars > 0) {
      for (const b of first.values()) {
        const history = await readBars(deps.db, b.venue, b.symbol, b.ts - preloadBars * 60_000, b.ts - 60_000);
        engine.warmUp(b.venue, b.symbol, history);
      }
    }
    // Bars the fast lane already predicted are not stepped again (no await from here to the step).
    const fresh: Bar[] = [];
    const fromLane: { published: Promise<boolean>; outputs: readonly EngineOutput[] }[] = [];
    let laneMismatches = 0;
    for (const b of owned.bars) {
      const h = fastLane?.take(b);
      if (!h) {
        fresh.push(b);
        continue;
      }
      fromLane.push(h);
      if (!sameBar(h.bar, b)) {
        laneMismatches += 1;
        log.warn({ lane: h.bar, stored: b }, 'the bar predicted on the fast lane differs from the stored bar');
      }
    }
    const result = engine.step(fresh, quality);
    // Fine-tunes start in the background right away; the engine never repeats a trigger, even if this batch is retried.
    if (result.triggers.length > 0) deps.onTriggers?.(result.triggers.map((trigger) => ({ trigger })));
    // A lane publication that failed is done here (same dedup ids).
    const redo = (await Promise.all(fromLane.map(async (h) => ((await h.published) ? [] : h.outputs)))).flat();
    const { predictions, withheld, replayed } = await publishOutputs([...redo, ...result.outputs]);
    // Caught up only once stored: a retried batch computes its catch-up again.
    for (const key of owned.caughtUp) {
      catchUp.delete(key);
      catchUpFrom.delete(key);
    }
    return {
      ack: valid,
      outcome: {
        bars: bars.length,
        predictions,
        replayed,
        lane: 0,
        laneMismatches,
        withheld,
        warmingUp: result.warmingUp,
        stale: result.stale,
        invalid: rejected.length,
        triggers: result.triggers.length,
        ms: performance.now() - t0,
      },
    };
  };

  /**
   * Scale-out rebalancing, run when the consumer is idle (no batch in hand): symbols whose preferred
   * owner is another process that has been up for a while are handed over to it, one at a time,
   * while no fast-lane publication is in flight. This process's last predictions and weighter
   * snapshots of the symbol are stored by then, so the new owner catches up from exactly there.
   */
  const rebalance = async () => {
    if (!claims) return;
    const moves = claims.misplaced('pred.', REBALANCE_STABLE_TTLS * settings.CLAIM_TTL_MS);
    let handed = 0;
    for (const { key, to } of moves) {
      if (laneInFlight > 0) break;
      leaving.add(key);
      try {
        if (await claims.handOff(key, to)) handed += 1;
      } finally {
        leaving.delete(key);
      }
    }
    if (handed > 0) log.info({ handed, owned: claims.ownedKeys().filter((k) => k.startsWith('pred.')).length }, 'rebalanced: symbols handed over to their preferred process');
  };

  /** `model.retrain.cmd`: fine-tune the named symbol(s) now; answered on `model.retrain.result` by the fineTuner. */
  const onRetrainCommand = (data: Uint8Array) => {
    let raw: unknown;
    try {
      raw = JSON.parse(new TextDecoder().decode(data));
    } catch {
      log.warn('model.retrain.cmd is not JSON; ignored');
      return;
    }
    const cmd = retrainCommandSchema.safeParse(raw);
    if (!cmd.success) {
      log.warn({ issues: cmd.error.issues.map((i) => i.message) }, 'invalid model.retrain.cmd; ignored');
      return;
    }
    const { requestId, symbol, venue } = cmd.data;
    const matches = engine.statuses().filter((s) => (symbol === undefined || s.symbol === symbol) && (venue === undefined || s.venue === venue));
    const jobs = matches.flatMap((s, i) => {
      const trigger = engine.requestFineTune(s.venue, s.symbol, 'manual');
      return trigger ? [{ trigger, ...(i === 0 ? { requestId } : {}) }] : [];
    });
    if (jobs.length === 0) {
      publishJson(js, {
        subject: subjects.retrainResult,
        payload: { requestId, status: 'skipped', deployed: false, error: `no symbol with bars matches ${venue ?? '*'}.${symbol ?? '*'}` },
        msgId: `retrain-result:${requestId}`,
      }).catch((err: unknown) => log.warn({ err }, 'could not publish the retrain result'));
      return;
    }
    log.info({ requestId, symbols: jobs.map((j) => j.trigger.symbol) }, 'retrain requested');
    deps.onTriggers?.(jobs);
  };

  const consume = fromCallback<{ type: 'predictor.stop' }>(({ sendBack, receive }) => {
    let sub: Subscription | undefined;
    if (deps.retrainCommands ?? true) {
      sub = deps.nc.subscribe(subjects.retrainCmd, { callback: (err, msg) => (err ? log.warn({ err }, 'retrain subscription') : onRetrainCommand(msg.data)) });
    }
    const unlisten = claims?.listen({
      onAcquired: (key) => {
        if (key.startsWith('pred.')) catchUp.add(key);
      },
      onLost: (key) => catchUp.delete(key),
    });
    laneOutcome = (o) => sendBack({ type: 'predictor.lane', outcome: o });
    const unlistenLane = fastLane ? deps.lane?.listen(fastLane.offer) : undefined;
    // After a (re)start every owned symbol checks for bars missed while no consumer ran.
    for (const key of claims?.ownedKeys() ?? []) if (key.startsWith('pred.')) catchUp.add(key);
    const consumer = startBatchConsumer({
      nc: deps.nc,
      stream: 'MD_BARS',
      durable,
      batchSize: 1_000,
      retryMinMs: settings.RETRY_MIN_MS,
      retryMaxMs: settings.RETRY_MAX_MS,
      ackWaitMs: settings.INGEST_ACK_WAIT_MS,
      log,
      handle: async (batch) => {
        const r = await handle(batch);
        sendBack({ type: 'predictor.batch', outcome: r.outcome });
        return r.ack;
      },
      // A symbol taken over while no bar of it arrives is caught up when idle.
      ...(claims
        ? {
            onIdle: async () => {
              await rebalance();
              if (catchUp.size === 0) return;
              const r = await handle([]);
              if (r.outcome.predictions > 0) sendBack({ type: 'predictor.batch', outcome: r.outcome });
            },
          }
        : {}),
      onDegraded: (reason) => sendBack({ type: 'predictor.degraded', reason }),
      onRecovered: () => sendBack({ type: 'predictor.recovered' }),
      endOnReconnect: true,
      // A bar that makes the handler throw crashes this actor (its supervisor restarts it) and is dead-lettered after N deliveries.
      poison: {
        maxFailures: deps.poisonMaxFailures ?? POISON_MAX_FAILURES,
        failures: poisonFailures,
        deadLetter: (msgs, issue) => deadLetter(js, msgs.map((msg) => ({ msg, failure: { ok: false, reason: 'poison', issues: [issue] } })), 3, Date.now()),
      },
    });
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
      laneOutcome = undefined;
    };
  });

  /**
   * A new symbol's history was stored after its first live bars: warm it up again
   * from bars_1m (history and live bars joined) while it has made no prediction.
   * The read is async; the engine is reset only if no bar of the symbol was
   * stepped meanwhile (else read again), so the reset and the stepping never mix.
   */
  const rewarm = async (venue: string, symbol: string): Promise<boolean> => {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const last = engine.lastBarTs(venue, symbol);
      if (last === undefined || engine.status(venue, symbol).state !== 'warming_up') return false;
      const bars = await readBars(deps.db, venue, symbol, last - (preloadBars - 1) * 60_000, last);
      if (engine.lastBarTs(venue, symbol) !== last) continue;
      const done = engine.rewarm(venue, symbol, bars);
      if (done) log.info({ venue, symbol, bars: bars.length, status: engine.status(venue, symbol).state }, 'warmed up again from the history joined to the live bars');
      return done;
    }
    return false;
  };

  return { prepare, consume, engine, weighters, rewarm };
}
