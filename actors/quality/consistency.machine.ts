import { assign, fromCallback, fromPromise, setup } from 'xstate';
import {
  DEFAULT_CHECK_CONFIG,
  DEFAULT_HEALTH_CONFIG,
  emptyCheckState,
  initialHealth,
  nextHealth,
  type BarsClosedEvent,
  type CheckConfig,
  type CheckState,
  type ClockTickEvent,
  type FeedBar,
  type Finding,
  type HealthChange,
  type HealthConfig,
  type HealthState,
  type HealthTrack,
  type QualityReport,
} from './index.ts';
import { backoffDelay } from '../../streams/index.ts';

/** Tunables of one consistency actor. */
export type ConsistencyConfig = {
  /** Window length: bars are checked and reported per aligned window of this many ms. */
  windowMs: number;
  /** A window is closed by the first bar of a later window, or this long after its end (clock ticks). */
  flushGraceMs: number;
  checks: CheckConfig;
  health: HealthConfig;
  retryMinMs: number;
  retryMaxMs: number;
};

export const DEFAULT_CONSISTENCY_CONFIG: ConsistencyConfig = {
  windowMs: 15 * 60_000,
  flushGraceMs: 90_000,
  checks: DEFAULT_CHECK_CONFIG,
  health: DEFAULT_HEALTH_CONFIG,
  retryMinMs: 500,
  retryMaxMs: 30_000,
};

export type ConsistencyInput = {
  venue: string;
  symbol: string;
  config?: Partial<Omit<ConsistencyConfig, 'checks' | 'health'>> & {
    checks?: Partial<CheckConfig>;
    health?: Partial<HealthConfig>;
  };
};

/** Bars of one window, in arrival order. `start` is the window's aligned start time. */
export type BarWindow = { start: number; bars: FeedBar[] };

/** Output of `evaluate`: the window's findings and the checks' next state. */
export type Evaluation = { findings: Finding[]; checkState: CheckState };

/** What `publish` sends and stores for one window. */
export type ReportOut = { report: QualityReport; change: HealthChange | undefined };

export type ConsistencyContext = {
  venue: string;
  symbol: string;
  config: ConsistencyConfig;
  open: BarWindow | undefined;
  /** Closed windows waiting for evaluation, oldest first. */
  ready: BarWindow[];
  checkState: CheckState;
  health: HealthTrack;
  pending: ReportOut | undefined;
  /** Findings from outside the checks (unfillable gaps), added to the report of the first window evaluated at or after their time. */
  external: Finding[];
  errorStreak: number;
  lastError: string | undefined;
  stats: { windows: number; bars: number; findings: number; changes: number };
};

export type ConsistencyEvent =
  | BarsClosedEvent
  | ClockTickEvent
  | { type: 'quality.findings'; findings: Finding[] }
  | { type: 'consistency.stop' };

function notProvided(name: string): never {
  throw new Error(`consistency actor "${name}" not provided: use consistencyMachine.provide({ actors: createConsistencyActors(...) })`);
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Adds bars to the open window; a bar of a later window closes it. Late bars join the open window. */
function addBars(c: ConsistencyContext, bars: readonly FeedBar[]): Pick<ConsistencyContext, 'open' | 'ready'> {
  let open = c.open;
  const ready = [...c.ready];
  for (const bar of bars) {
    const start = Math.floor(bar.ts / c.config.windowMs) * c.config.windowMs;
    if (open && start > open.start) {
      ready.push(open);
      open = undefined;
    }
    open = open ? { start: open.start, bars: [...open.bars, bar] } : { start, bars: [bar] };
  }
  return { open, ready };
}

/**
 * consistency: one per venue/symbol. Collects closed bars into aligned windows,
 * runs the checks of quality/checks.ts on each (with the bars' own ticks from the
 * database), moves the symbol's health through healthy / degraded / quarantined
 * with hysteresis, and publishes a report per window on `md.quality.<venue>.<symbol>`
 * (stored in `quality_reports`), plus `quality.state_changed` when the state moves.
 * Effects come from `createConsistencyActors` (actors/consistency.logic.ts).
 */
export const consistencyMachine = setup({
  types: {
    context: {} as ConsistencyContext,
    events: {} as ConsistencyEvent,
    input: {} as ConsistencyInput,
  },
  actors: {
    resume: fromPromise<{ state: HealthState | undefined }, { venue: string; symbol: string }>(async () => notProvided('resume')),
    evaluate: fromPromise<Evaluation, { venue: string; symbol: string; window: BarWindow; checkState: CheckState; checks: CheckConfig }>(
      async () => notProvided('evaluate'),
    ),
    publish: fromPromise<void, ReportOut>(async () => notProvided('publish')),
    barFeed: fromCallback<{ type: 'feed.stop' }, { venue: string; symbol: string }>(() => undefined),
    ticker: fromCallback<{ type: 'ticker.stop' }>(() => undefined),
  },
  guards: {
    hasReady: ({ context }) => context.ready.length > 0,
  },
  delays: {
    errorDelay: ({ context }) =>
      backoffDelay(Math.max(0, context.errorStreak - 1), context.config.retryMinMs, context.config.retryMaxMs),
  },
  actions: {
    collect: assign(({ context, event }) => {
      if (event.type !== 'bars.closed') return {};
      return { ...addBars(context, event.bars), stats: { ...context.stats, bars: context.stats.bars + event.bars.length } };
    }),
    flushDue: assign(({ context, event }) => {
      if (event.type !== 'clock.tick' || !context.open) return {};
      if (event.now < context.open.start + context.config.windowMs + context.config.flushGraceMs) return {};
      return { open: undefined, ready: [...context.ready, context.open] };
    }),
    addExternal: assign(({ context, event }) =>
      event.type === 'quality.findings' ? { external: [...context.external, ...event.findings] } : {},
    ),
    recordError: assign({
      errorStreak: ({ context }) => context.errorStreak + 1,
      lastError: ({ event }) => errorText((event as { error?: unknown }).error),
    }),
  },
}).createMachine({
  id: 'consistency',
  context: ({ input }) => ({
    venue: input.venue,
    symbol: input.symbol,
    config: {
      ...DEFAULT_CONSISTENCY_CONFIG,
      ...input.config,
      checks: { ...DEFAULT_CHECK_CONFIG, ...input.config?.checks },
      health: { ...DEFAULT_HEALTH_CONFIG, ...input.config?.health },
    },
    open: undefined,
    ready: [],
    checkState: emptyCheckState(),
    health: initialHealth(),
    pending: undefined,
    external: [],
    errorStreak: 0,
    lastError: undefined,
    stats: { windows: 0, bars: 0, findings: 0, changes: 0 },
  }),
  initial: 'starting',
  // Findings from outside can arrive before the actor runs (an unfillable gap found while it is still
  // resuming its state): they are kept in every state, not only while running.
  on: { 'consistency.stop': '.stopped', 'quality.findings': { actions: 'addExternal' } },
  states: {
    starting: {
      invoke: {
        src: 'resume',
        input: ({ context }) => ({ venue: context.venue, symbol: context.symbol }),
        onDone: {
          target: 'running',
          // A restarted actor keeps the last reported state: a quarantine survives restarts.
          actions: assign({ health: ({ event }) => initialHealth(event.output.state ?? 'healthy'), errorStreak: 0 }),
        },
        onError: { target: 'startWait', actions: 'recordError' },
      },
    },
    startWait: { after: { errorDelay: 'starting' } },
    running: {
      invoke: [
        { src: 'barFeed', input: ({ context }) => ({ venue: context.venue, symbol: context.symbol }) },
        { src: 'ticker' },
      ],
      on: {
        'bars.closed': { actions: 'collect' },
        'clock.tick': { actions: 'flushDue' },
      },
      initial: 'idle',
      states: {
        idle: { always: { guard: 'hasReady', target: 'evaluating' } },
        evaluating: {
          invoke: {
            src: 'evaluate',
            input: ({ context }) => ({
              venue: context.venue,
              symbol: context.symbol,
              window: context.ready[0] ?? { start: 0, bars: [] },
              checkState: context.checkState,
              checks: context.config.checks,
            }),
            onDone: {
              target: 'publishing',
              actions: assign(({ context, event }) => {
                const window = context.ready[0] ?? { start: 0, bars: [] };
                // External findings about this window or earlier go into its report; later ones wait for theirs.
                const windowEnd = window.start + context.config.windowMs;
                const findings = [...event.output.findings, ...context.external.filter((f) => f.ts < windowEnd)];
                const { checkState } = event.output;
                const next = nextHealth(context.health, findings, context.config.health);
                const report: QualityReport = {
                  type: 'quality.report',
                  venue: context.venue,
                  symbol: context.symbol,
                  windowFrom: window.start,
                  windowTo: window.start + context.config.windowMs - context.config.checks.intervalMs,
                  bars: window.bars.length,
                  state: next.track.state,
                  findings,
                };
                return {
                  checkState,
                  health: next.track,
                  pending: { report, change: next.change },
                  external: context.external.filter((f) => f.ts >= windowEnd),
                  errorStreak: 0,
                  stats: {
                    ...context.stats,
                    windows: context.stats.windows + 1,
                    findings: context.stats.findings + findings.length,
                    changes: context.stats.changes + (next.change ? 1 : 0),
                  },
                };
              }),
            },
            onError: { target: 'evaluateWait', actions: 'recordError' },
          },
        },
        evaluateWait: { after: { errorDelay: 'evaluating' } },
        publishing: {
          invoke: {
            src: 'publish',
            input: ({ context }) => {
              if (!context.pending) throw new Error('publishing without a report');
              return context.pending;
            },
            onDone: {
              target: 'idle',
              actions: assign(({ context }) => ({ ready: context.ready.slice(1), pending: undefined, errorStreak: 0 })),
            },
            onError: { target: 'publishWait', actions: 'recordError' },
          },
        },
        publishWait: { after: { errorDelay: 'publishing' } },
      },
    },
    stopped: { type: 'final' },
  },
});
