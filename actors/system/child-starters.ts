import { jetstream } from '@nats-io/jetstream';
import type { AnyActorRef } from 'xstate';
import type { Logger } from '../../config/index.ts';
import { BarLane, startMarketSync } from '../ingest/index.ts';
import { gateFromSettings, RegistryCandidateSink, startModelLifecycle, type RegistryEnv } from '../lifecycle/index.ts';
import type { FeatureSpec } from '../../models/index.ts';
import type { Alerter } from '../../ops/index.ts';
import { startPredictors } from '../prediction/index.ts';
import { historyFromSettings, NO_HISTORY, parseQualitySettings, QualityBoard, startHistoryLoader, startQualitySupervisor } from '../quality/index.ts';
import { KV_BUCKETS, openBucket } from '../../streams/index.ts';
import type { ChildName, Children, SupervisorDeps } from './phase-supervisor.effects.ts';

/** How long a crashed child's handle gets to stop before its replacement starts anyway. */
const RETIRE_TIMEOUT_MS = 5_000;

export type ChildStartersEnv = {
  deps: SupervisorDeps;
  /** The supervisor's logger. */
  log: Logger;
  spec: FeatureSpec;
  children: Children;
  alert: Alerter;
};

/**
 * Starts each supervised child (again, after a crash) and records its handle in
 * `children` once it is ready. Owns what must outlive a child's restarts: the bar
 * lane, the quality board and the predictor's per-bar failure counts.
 */
export class ChildStarters {
  /** Closed bars from marketSync to the predictor of this process, ahead of their commit; outlives restarts of both. */
  private readonly lane = new BarLane();
  /** The predictor's failed handlings per bar: a poison bar crashes it, and the count must outlive the restart. */
  private readonly predictorFailures = new Map<number, number>();
  /** The symbols' health: the quality supervisor announces it, the predictor withholds quarantined symbols by it. */
  private readonly board = new QualityBoard();

  constructor(private readonly env: ChildStartersEnv) {}

  /** Starts the supervised child `name`: what a restart calls. */
  start(name: ChildName): Promise<AnyActorRef> {
    switch (name) {
      case 'marketSync':
        return this.marketSync();
      case 'predictor':
        return this.predictor();
      case 'lifecycle':
        return this.lifecycle();
    }
  }

  async marketSync(): Promise<AnyActorRef> {
    const { deps, children, alert } = this.env;
    await this.retire(children.sync, 'marketSync');
    const sync = startMarketSync({ ...deps, lane: this.lane, alert });
    await sync.ready();
    children.sync = sync;
    return sync.actor;
  }

  async predictor(): Promise<AnyActorRef> {
    const { deps, children, spec } = this.env;
    if (!children.models) throw new Error('model source not started');
    await this.retire(children.predictor, 'predictor');
    const predictor = startPredictors({
      nc: deps.nc,
      db: deps.db,
      settings: deps.settings,
      log: deps.log,
      models: deps.wrapModels?.(children.models) ?? children.models,
      spec,
      sink: new RegistryCandidateSink({ env: await this.registryEnv(), models: children.models, actor: 'fine-tuner', gate: gateFromSettings(deps.settings) }),
      onOutcome: (o) => children.outcomes.push(o),
      poisonFailures: this.predictorFailures,
      quality: (venue, symbol) => this.board.get(venue, symbol)?.state,
      // Retrain commands are the lifecycle's; the predictor fine-tunes on its own triggers.
      retrainCommands: false,
      lane: this.lane,
      ...(children.claims ? { claims: children.claims } : {}),
    });
    await predictor.ready();
    children.predictor = predictor;
    return predictor.actor;
  }

  async lifecycle(): Promise<AnyActorRef> {
    const { deps, children, alert } = this.env;
    await this.retire(children.lifecycle, 'lifecycle');
    const lifecycle = startModelLifecycle({ nc: deps.nc, db: deps.db, settings: deps.settings, log: deps.log, outcomes: children.outcomes, alert });
    await lifecycle.ready();
    children.lifecycle = lifecycle;
    return lifecycle.actor;
  }

  /**
   * The quality supervisor, and with a history source configured the history loader
   * of new symbols. Ingest starts it after marketSync (see IngestLease).
   */
  async quality(): Promise<void> {
    const { deps, children, log, alert } = this.env;
    const quality = parseQualitySettings(deps.settings);
    const provider = historyFromSettings(quality, deps.log, deps.db);
    const history =
      provider === NO_HISTORY || quality.historyDays <= 0
        ? undefined
        : startHistoryLoader({
            nc: deps.nc,
            db: deps.db,
            settings: deps.settings,
            log: deps.log,
            provider,
            days: quality.historyDays,
            calendars: quality.calendars,
            // A new symbol still warming up is warmed up from its history and predicted from its next bar;
            // the backfill checks the joined series, so a hole no source has is recorded unfillable.
            onLoaded: (load) => {
              if (load.firstBarTs !== undefined && load.watermark !== undefined) children.quality?.scan(load.venue, load.symbol, load.firstBarTs, load.watermark);
              children.predictor
                ?.historyLoaded(load.venue, load.symbol)
                .catch((err: unknown) => log.warn({ err, venue: load.venue, symbol: load.symbol }, 'warm-up from history failed'));
            },
          });
    children.history = history;
    children.quality = await startQualitySupervisor({
      nc: deps.nc,
      db: deps.db,
      settings: deps.settings,
      log: deps.log,
      provider,
      alert,
      board: this.board,
      ...(history ? { onNewSymbol: (venue: string, symbol: string, firstTs: number) => history.add(venue, symbol, firstTs) } : {}),
    });
  }

  private async registryEnv(): Promise<RegistryEnv> {
    const { deps } = this.env;
    return {
      db: deps.db,
      kv: await openBucket(deps.nc, KV_BUCKETS.modelActive),
      js: jetstream(deps.nc),
      log: deps.log,
    };
  }

  /**
   * A crashed child's handle may still hold resources (the predictor's fine-tuner
   * and weight keepers, timers, a consumer): stop it, bounded, before its
   * replacement starts.
   */
  private async retire(handle: { stop(): Promise<void> } | undefined, name: string): Promise<void> {
    if (!handle) return;
    const bounded = new Promise<void>((resolve) => setTimeout(resolve, RETIRE_TIMEOUT_MS).unref());
    await Promise.race([handle.stop().catch((err: unknown) => this.env.log.warn({ err, child: name }, 'stopping the crashed child failed')), bounded]);
  }
}
