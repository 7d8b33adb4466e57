import type { NatsConnection } from '@nats-io/transport-node';
import { createActor, waitFor, type ActorRefFrom } from 'xstate';
import type { Logger, Settings } from '../../config/index.ts';
import type { Db } from '../../sql/index.ts';
import { EventLoopWatch, type EventLoopDelay } from '../../ops/index.ts';
import type { MarketSyncStats } from '../ingest/index.ts';
import type { ModelLifecycleStats, RolloutStatus, ScopeSchedule } from '../lifecycle/index.ts';
import { phaseSupervisorMachine } from './phase-supervisor.machine.ts';
import { createSupervisorActors, INGEST_CLAIM, type ChildName, type ChildStatus, type SupervisorDeps } from './phase-supervisor.effects.ts';
import type { SymbolStatus } from '../prediction/index.ts';
import type { HistoryLoad } from '../quality/index.ts';
import type { PredictorStats } from '../prediction/index.ts';
import type { IngestStall } from '../ingest/index.ts';
import type { SymbolQualityStatus } from '../quality/index.ts';

export type SystemDeps = { nc: NatsConnection; db: Db; settings: Settings; log: Logger } & Omit<SupervisorDeps, 'nc' | 'db' | 'settings' | 'log'>;

export type SystemStatus = {
  /** The supervisor's state: `phase1` ... `phase4`, `running.healthy`, `running.degraded`, `failed`, `stopping`, `stopped`. */
  phase: string;
  phase1: string | undefined;
  lastError: string | undefined;
  children: Record<ChildName, ChildStatus>;
  /** `stalled`: ingest has work pending and its ack floor has not moved for INGEST_STALL_MS (see ops.alert.ingest_stalled). */
  sync: { state: string; stats: MarketSyncStats | undefined; lastError: string | undefined; stalled?: IngestStall };
  predictor: { state: string; stats: PredictorStats | undefined; warmingUp: number; ready: number };
  /** `schedule`: per symbol scope, last training, next scheduled retrain, corrections since training, last trigger. */
  lifecycle: { state: string; stats: ModelLifecycleStats | undefined; schedule: ScopeSchedule[]; rollouts: RolloutStatus[] };
  /** Data quality: symbols per state and gaps over all symbols. */
  quality: { healthy: number; degraded: number; quarantined: number; gapsFound: number; gapsFilled: number; gapsUnfillable: number };
  /** Active model versions for the `default` key (every symbol without its own). */
  versions: string[];
  /** Event-loop delay of this process over the last window (bar close -> prediction waits for it). */
  /** Phase 2: history loads of new symbols (with a history source configured). */
  history: HistoryLoad[];
  eventLoop: EventLoopDelay;
  /** SCALE_OUT=true: this process's id, whether it holds the ingest lease, and the symbols it predicts. */
  scaleOut?: { processId: string; ingestLeader: boolean; symbols: string[] };
};

export type SystemHandle = {
  actor: ActorRefFrom<typeof phaseSupervisorMachine>;
  status(): SystemStatus;
  /** The predictor's view of each symbol of this process (bars seen, the last bar's open time, warm-up). */
  symbols(): SymbolStatus[];
  /** Resolves when Phase 4 is reached (or rejects when a phase failed). */
  ready(timeoutMs?: number): Promise<void>;
  /** Drains: stops consuming, finishes and acks the batches in hand, then closes. */
  stop(): Promise<void>;
};

/** A state value as `running.live`, for display. */
export function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['?', ''];
    return `${k}.${stateName(v)}`;
  }
  return String(value);
}

function qualitySummary(rows: readonly SymbolQualityStatus[]): SystemStatus['quality'] {
  const q = { healthy: 0, degraded: 0, quarantined: 0, gapsFound: 0, gapsFilled: 0, gapsUnfillable: 0 };
  for (const r of rows) {
    q[r.quality] += 1;
    q.gapsFound += r.gaps.found;
    q.gapsFilled += r.gaps.filled;
    q.gapsUnfillable += r.gaps.unfillable;
  }
  return q;
}

/** Starts the phase supervisor (the root actor): Phase 1 pretraining, 2 live sync, 3 online learning, 4 hybrid prediction. */
export function startSystem(deps: SystemDeps): SystemHandle {
  let status: () => SystemStatus = () => {
    throw new Error('not started');
  };
  const logic = createSupervisorActors({ ...deps, status: () => status() });
  const actor = createActor(phaseSupervisorMachine.provide({ actors: logic.actors }));
  actor.start();
  const { children } = logic;
  const loop = new EventLoopWatch().start();
  const handle: SystemHandle = {
    actor,
    status() {
      const snap = actor.getSnapshot();
      const sync = children.sync?.actor.getSnapshot();
      const pred = children.predictor?.actor.getSnapshot();
      const life = children.lifecycle?.actor.getSnapshot();
      const statuses = children.predictor?.statuses() ?? [];
      const versions = children.models ? children.models.snapshot('_', '_') : undefined;
      return {
        phase: stateName(snap.value),
        phase1: snap.context.phase1 ? `${snap.context.phase1.skipped ? 'skipped' : 'done'}: ${snap.context.phase1.reason}` : undefined,
        lastError: snap.context.lastError,
        children: children.status,
        sync: {
          state: sync ? stateName(sync.value) : 'not started',
          stats: sync?.context.stats,
          lastError: sync?.context.lastError,
          ...(sync?.context.stalled ? { stalled: sync.context.stalled } : {}),
        },
        predictor: {
          state: pred ? stateName(pred.value) : 'not started',
          stats: pred?.context.stats,
          warmingUp: statuses.filter((s) => s.state === 'warming_up').length,
          ready: statuses.filter((s) => s.state !== 'warming_up').length,
        },
        lifecycle: { state: life ? stateName(life.value) : 'not started', stats: life?.context.stats, schedule: children.lifecycle?.schedule() ?? [], rollouts: children.lifecycle?.rollouts() ?? [] },
        quality: qualitySummary(children.quality?.status() ?? []),
        history: children.history?.status() ?? [],
        eventLoop: loop.last(),
        versions: versions ? [...versions.pretrained.map((m) => `${m.version} (${m.regime})`), ...(versions.online ? [`${versions.online.version} (online)`] : [])] : [],
        ...(children.claims
          ? {
              scaleOut: {
                processId: children.claims.processId,
                ingestLeader: children.claims.owns(INGEST_CLAIM),
                symbols: children.claims.ownedKeys().filter((k) => k.startsWith('pred.')).map((k) => k.slice('pred.'.length)),
              },
            }
          : {}),
      };
    },
    symbols: () => children.predictor?.statuses() ?? [],
    async ready(timeoutMs = 600_000) {
      const s = await waitFor(actor, (x) => x.matches('running') || x.matches('failed') || x.status === 'done', { timeout: timeoutMs });
      if (!s.matches('running')) throw new Error(`system did not start: ${s.context.lastError ?? stateName(s.value)}`);
    },
    async stop() {
      actor.send({ type: 'system.stop' });
      try {
        await waitFor(actor, (s) => s.status === 'done', { timeout: 120_000 });
      } finally {
        loop.stop();
      }
    },
  };
  status = () => handle.status();
  return handle;
}
