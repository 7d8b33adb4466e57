import { createActor, type ActorRefFrom } from 'xstate';
import { z } from 'zod';
import type { Logger } from '../../config/index.ts';
import {
  DEFAULT_WEIGHTER_CONFIG,
  ESTABLISHED_AFTER,
  type PendingScore,
  type WeighterConfig,
  type WeightKeeper,
  type WeightKeeperFactory,
  type WeightPhase,
} from './index.ts';
import type { Db } from '../../sql/index.ts';
import { CONFIDENCE_WEIGHTER_DEFINITION, confidenceWeighterMachine, type ConfidenceWeighterMemory } from './confidence-weighter.machine.ts';
import { SnapshotStore } from './snapshot-store.ts';

type WeighterRef = ActorRefFrom<typeof confidenceWeighterMachine>;

/**
 * A machine as the engine's weight keeper. The forecasts awaiting their bar
 * (`expect`) are the engine's memory, not weighter state: they are kept here,
 * beside the machine, and persisted with its snapshot, so each bar costs the
 * machine one event (the outcome), not two.
 */
function keeperOf(actor: WeighterRef, restored: PendingScore | undefined, onChange?: () => void): WeightKeeper & { readonly pending: PendingScore | undefined } {
  let pending = restored;
  return {
    get state() {
      return actor.getSnapshot().context.state;
    },
    get phase(): WeightPhase {
      const s = actor.getSnapshot();
      return s.matches('established') ? 'established' : s.matches('learning') ? 'learning' : 'prior';
    },
    restoredPending: restored,
    get pending() {
      return pending;
    },
    score(actual, forecasts, ts) {
      actor.send(ts === undefined ? { type: 'weights.scored', actual, forecasts } : { type: 'weights.scored', actual, forecasts, ts });
      onChange?.();
    },
    join(role) {
      if (actor.getSnapshot().context.state.components[role]) return;
      actor.send({ type: 'weights.joined', role });
      onChange?.();
    },
    expect(next) {
      pending = next;
      onChange?.();
    },
    stop() {
      actor.send({ type: 'weights.stop' });
    },
  };
}

/**
 * The confidence-weighter actors as the predictor engine's weight keepers: one
 * machine per symbol, created when the symbol is first seen, sent one event per
 * scored bar (a plain synchronous `send`, cheap enough for the hot path).
 */
export function createConfidenceWeighters(config: WeighterConfig = DEFAULT_WEIGHTER_CONFIG, establishedAfter = ESTABLISHED_AFTER): WeightKeeperFactory {
  return () => keeperOf(createActor(confidenceWeighterMachine, { input: { config, establishedAfter } }).start(), undefined);
}

const finite = z.number().refine(Number.isFinite, 'must be finite');
const forecastSchema = z.object({ value: finite, pUp: finite });
/** The persisted memory of one weighter (`actor_snapshots.snapshot`). */
export const confidenceWeighterSnapshotSchema = z.object({
  state: z.object({
    components: z.record(z.string(), z.object({ absError: finite, logLoss: finite, loss: finite, scored: z.number().int().nonnegative() })),
    absActual: finite,
    count: finite,
    scored: z.number().int().nonnegative(),
  }),
  scoredThrough: z.number().int().nullable(),
  pending: z.object({ ts: z.number().int(), forecasts: z.record(z.string(), forecastSchema), adaptive: z.string() }).nullable(),
});
type WeighterSnapshot = z.output<typeof confidenceWeighterSnapshotSchema>;

/** Actor id of a symbol's weighter in `actor_snapshots`. */
export const weighterActorId = (venue: string, symbol: string): string => `confidenceWeighter:${venue}.${symbol}`;

export type PersistentWeighters = {
  /** The keeper factory for the engine: a symbol whose snapshot was preloaded resumes from it. */
  factory: WeightKeeperFactory;
  /** Loads the snapshots of symbols about to be seen for the first time (call before the engine touches them). */
  preload(symbols: readonly { venue: string; symbol: string }[]): Promise<void>;
  /**
   * For symbols this process had before (their weighters may be stale: another
   * process scored them since): drops the weighters in memory, unsaved changes
   * too, and loads the snapshots. Then renew the engine's keepers (`renewWeights`).
   */
  reload(symbols: readonly { venue: string; symbol: string }[]): Promise<void>;
  /** Saves the weighters changed since the last flush (one upsert). Call after a batch is stored, before its ack, and on drain. */
  flush(): Promise<void>;
  readonly store: SnapshotStore<typeof confidenceWeighterSnapshotSchema>;
};

/**
 * Confidence weighters whose memory (decayed losses, last bar scored, pending
 * forecasts) persists in `actor_snapshots`, so a restart resumes each symbol's
 * weights instead of starting again from the prior. Snapshots are saved per
 * batch, before the batch is acked: a redelivered batch finds its outcomes
 * already scored (`scoredThrough`) and does not count them twice.
 */
export function createPersistentWeighters(opts: {
  db: Db;
  log: Logger;
  config?: WeighterConfig;
  establishedAfter?: number;
}): PersistentWeighters {
  const config = opts.config ?? DEFAULT_WEIGHTER_CONFIG;
  const establishedAfter = opts.establishedAfter ?? ESTABLISHED_AFTER;
  const store = new SnapshotStore({
    db: opts.db,
    log: opts.log,
    machineId: confidenceWeighterMachine.id,
    definitionVersion: CONFIDENCE_WEIGHTER_DEFINITION,
    schema: confidenceWeighterSnapshotSchema,
  });
  const restored = new Map<string, ConfidenceWeighterMemory & { pending: PendingScore | undefined }>();
  const actors = new Map<string, { actor: WeighterRef; keeper: ReturnType<typeof keeperOf> }>();
  const dirty = new Set<string>();
  let saving: Promise<void> = Promise.resolve();
  const factory: WeightKeeperFactory = (venue, symbol) => {
    const id = weighterActorId(venue, symbol);
    const memory = restored.get(id);
    restored.delete(id);
    const actor = createActor(confidenceWeighterMachine, {
      input: { config, establishedAfter, ...(memory ? { restored: { state: memory.state, scoredThrough: memory.scoredThrough } } : {}) },
    }).start();
    const keeper = keeperOf(actor, memory?.pending, () => dirty.add(id));
    actors.set(id, { actor, keeper });
    return keeper;
  };
  return {
    factory,
    store,
    async preload(symbols) {
      const ids = [...new Set(symbols.map((s) => weighterActorId(s.venue, s.symbol)))].filter((id) => !actors.has(id) && !restored.has(id));
      const found = await store.loadMany(ids);
      for (const [id, snap] of found) {
        restored.set(id, { state: snap.state, scoredThrough: snap.scoredThrough ?? undefined, pending: snap.pending ?? undefined });
      }
    },
    reload(symbols) {
      // In line with the saves: a save of the stale state never lands after the load.
      const run = saving.then(async () => {
        const ids = [...new Set(symbols.map((s) => weighterActorId(s.venue, s.symbol)))];
        const found = await store.loadMany(ids);
        for (const id of ids) {
          actors.delete(id); // the engine stops it when it renews the keeper
          dirty.delete(id);
          const snap = found.get(id);
          if (snap) restored.set(id, { state: snap.state, scoredThrough: snap.scoredThrough ?? undefined, pending: snap.pending ?? undefined });
          else restored.delete(id);
        }
      });
      saving = run.catch(() => undefined);
      return run;
    },
    flush() {
      // One save at a time (the fast lane and the durable path both flush): a later snapshot never lands before an earlier one.
      const run = saving.then(async () => {
        if (dirty.size === 0) return;
        const ids = [...dirty];
        const entries: { actorId: string; snapshot: WeighterSnapshot }[] = [];
        for (const id of ids) {
          const a = actors.get(id);
          if (!a) continue;
          const ctx = a.actor.getSnapshot().context;
          entries.push({ actorId: id, snapshot: { state: ctx.state, scoredThrough: ctx.scoredThrough ?? null, pending: a.keeper.pending ?? null } });
        }
        // Clean from the moment of the copy: a change during the save marks it dirty again.
        for (const id of ids) dirty.delete(id);
        try {
          await store.save(entries);
        } catch (err) {
          for (const id of ids) dirty.add(id); // a failed save keeps them dirty for the retry
          throw err;
        }
      });
      saving = run.catch(() => undefined);
      return run;
    },
  };
}
