import { assign, fromCallback, fromPromise, setup } from 'xstate';
import {
  checkSilence,
  createCalendar,
  observeBar,
  type BarsClosedEvent,
  type CalendarSpec,
  type ClockTickEvent,
  type DetectorState,
  type FillOutcome,
  type Gap,
  type GapScope,
} from './index.ts';
import { backoffDelay } from '../../streams/index.ts';

/** Tunables of one backfill actor. */
export type BackfillConfig = {
  /** The venue's trading calendar: which minutes must have a bar. */
  calendar: CalendarSpec;
  /** An expected bar still missing this long after it closed is a `silence` gap. */
  silenceTimeoutMs: number;
  /** Fill attempts per gap in one run; the last one decides `unfillable`. */
  maxAttempts: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Randomise the backoff (production); off for deterministic tests. */
  jitter: boolean;
  /** Interpolate what history lacks on the final attempt (`source: 'interpolated'`). Off by default. */
  interpolate: boolean;
};

export const DEFAULT_BACKFILL_CONFIG: BackfillConfig = {
  calendar: 'always',
  silenceTimeoutMs: 5 * 60_000,
  maxAttempts: 4,
  retryMinMs: 1_000,
  retryMaxMs: 60_000,
  jitter: true,
  interpolate: false,
};

export type BackfillInput = {
  venue: string;
  symbol: string;
  config?: Partial<BackfillConfig>;
  /** Check this range of stored bars for gaps right after start. */
  scan?: { from: number; to: number };
};

/** A recorded gap (a `data_gaps` row) waiting to be filled; `attempts` counts this run's tries. */
export type GapJob = Gap & { id: number; attempts: number; lastError?: string };

/**
 * What `recordGaps` returns per gap: its row id, whether it still needs filling, and
 * whether this call created the row (`found` counts distinct gaps, not detections:
 * a rescan of a range still missing finds the same gap again).
 */
export type RecordedGap = Gap & { id: number; needsFill: boolean; created: boolean };

export type BackfillStats = {
  found: number;
  filled: number;
  unfillable: number;
  abandoned: number;
  rows: number;
  lostSequences: number;
};

export type BackfillContext = {
  venue: string;
  symbol: string;
  config: BackfillConfig;
  detector: DetectorState;
  /** Gaps detected but not yet in `data_gaps`. */
  unrecorded: Gap[];
  /** How many of `unrecorded` the running `recordGaps` call took. */
  recording: number;
  jobs: GapJob[];
  scans: Array<{ from: number; to: number }>;
  /** Consecutive failures of start/record/scan, for their backoff. */
  errorStreak: number;
  lastError: string | undefined;
  stats: BackfillStats;
};

export type BackfillEvent =
  | BarsClosedEvent
  | ClockTickEvent
  | { type: 'scan.requested'; from: number; to: number }
  | { type: 'backfill.stop' };

/** Output of `resume`: gaps left open by an earlier run and the newest stored bar. */
export type ResumeOutput = { jobs: GapJob[]; lastBarTs: number | undefined };

export type ScopeInput = { venue: string; symbol: string; calendar: CalendarSpec };

const scopeOf = (c: BackfillContext): GapScope => ({
  venue: c.venue,
  symbol: c.symbol,
  calendar: createCalendar(c.config.calendar),
  interval: '1m',
});

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

function delayFor(config: BackfillConfig, attempt: number): number {
  return backoffDelay(Math.max(0, attempt - 1), config.retryMinMs, config.retryMaxMs, config.jitter ? Math.random : () => 1);
}

function notProvided(name: string): never {
  throw new Error(`backfill actor "${name}" not provided: use backfillMachine.provide({ actors: createBackfillActors(...) })`);
}

/**
 * backfill: one per venue/symbol. Detects gaps in its closed-bar feed (missing
 * bar times on the venue's calendar, sequence jumps, silence), records each in
 * `data_gaps` and announces it on `md.gap.<venue>.<symbol>`, then fills it from a
 * history provider with exact values (`source: 'backfill'`), retrying with backoff;
 * a gap history cannot fill becomes `unfillable`. Three parallel regions: scanning
 * stored ranges, recording detected gaps, filling recorded ones (one at a time).
 * Effects come from `createBackfillActors` (actors/backfill.logic.ts).
 */
export const backfillMachine = setup({
  types: {
    context: {} as BackfillContext,
    events: {} as BackfillEvent,
    input: {} as BackfillInput,
  },
  actors: {
    resume: fromPromise<ResumeOutput, ScopeInput>(async () => notProvided('resume')),
    scanRange: fromPromise<Gap[], ScopeInput & { from: number; to: number }>(async () => notProvided('scanRange')),
    recordGaps: fromPromise<RecordedGap[], { gaps: Gap[] }>(async () => notProvided('recordGaps')),
    fillGap: fromPromise<FillOutcome, { job: GapJob; final: boolean; calendar: CalendarSpec; interpolate: boolean }>(async () =>
      notProvided('fillGap'),
    ),
    barFeed: fromCallback<{ type: 'feed.stop' }, { venue: string; symbol: string }>(() => undefined),
    ticker: fromCallback<{ type: 'ticker.stop' }>(() => undefined),
  },
  guards: {
    hasScan: ({ context }) => context.scans.length > 0,
    hasUnrecorded: ({ context }) => context.unrecorded.length > 0,
    hasJob: ({ context }) => context.jobs.length > 0,
  },
  delays: {
    errorDelay: ({ context }) => delayFor(context.config, context.errorStreak),
    fillDelay: ({ context }) => delayFor(context.config, context.jobs[0]?.attempts ?? 1),
  },
  actions: {
    // The same as in the other quality machines: a failed step counts towards the backoff and says why.
    recordError: assign({
      errorStreak: ({ context }) => context.errorStreak + 1,
      lastError: ({ event }) => errorText((event as { error?: unknown }).error),
    }),
    observeBars: assign(({ context, event }) => {
      if (event.type !== 'bars.closed') return {};
      const scope = scopeOf(context);
      let detector = context.detector;
      const found: Gap[] = [];
      let lost = 0;
      for (const bar of event.bars) {
        // Filled and interpolated bars come back through the feed: they close no gap and open none.
        if (bar.source === 'backfill' || bar.source === 'interpolated') continue;
        const seen = observeBar(detector, bar.seq === undefined ? { ts: bar.ts } : { ts: bar.ts, seq: bar.seq }, scope);
        detector = seen.state;
        if (seen.gap) found.push(seen.gap);
        if (seen.lostSequences) lost += 1;
      }
      return {
        detector,
        unrecorded: found.length ? [...context.unrecorded, ...found] : context.unrecorded,
        stats: { ...context.stats, lostSequences: context.stats.lostSequences + lost },
      };
    }),
    observeSilence: assign(({ context, event }) => {
      if (event.type !== 'clock.tick') return {};
      const seen = checkSilence(context.detector, event.now, context.config.silenceTimeoutMs, scopeOf(context));
      if (!seen.gap) return {};
      return {
        detector: seen.state,
        unrecorded: [...context.unrecorded, seen.gap],
      };
    }),
    queueScan: assign({
      scans: ({ context, event }) =>
        event.type === 'scan.requested' ? [...context.scans, { from: event.from, to: event.to }] : context.scans,
    }),
  },
}).createMachine({
  id: 'backfill',
  context: ({ input }) => ({
    venue: input.venue,
    symbol: input.symbol,
    config: { ...DEFAULT_BACKFILL_CONFIG, ...input.config },
    detector: {},
    unrecorded: [],
    recording: 0,
    jobs: [],
    scans: input.scan ? [input.scan] : [],
    errorStreak: 0,
    lastError: undefined,
    stats: { found: 0, filled: 0, unfillable: 0, abandoned: 0, rows: 0, lostSequences: 0 },
  }),
  initial: 'starting',
  on: {
    'backfill.stop': '.stopped',
    'scan.requested': { actions: 'queueScan' },
  },
  states: {
    starting: {
      invoke: {
        src: 'resume',
        input: ({ context }) => ({ venue: context.venue, symbol: context.symbol, calendar: context.config.calendar }),
        onDone: {
          target: 'running',
          actions: assign(({ context, event }) => {
            const known = new Set(context.jobs.map((j) => j.id));
            const detector: DetectorState = { ...context.detector };
            if (event.output.lastBarTs !== undefined) detector.lastTs = Math.max(detector.lastTs ?? -Infinity, event.output.lastBarTs);
            return {
              jobs: [...context.jobs, ...event.output.jobs.filter((j) => !known.has(j.id))],
              detector,
              errorStreak: 0,
            };
          }),
        },
        onError: {
          target: 'startWait',
          actions: 'recordError',
        },
      },
    },
    startWait: { after: { errorDelay: 'starting' } },
    running: {
      type: 'parallel',
      invoke: [
        { src: 'barFeed', input: ({ context }) => ({ venue: context.venue, symbol: context.symbol }) },
        { src: 'ticker' },
      ],
      on: {
        'bars.closed': { actions: 'observeBars' },
        'clock.tick': { actions: 'observeSilence' },
      },
      states: {
        scan: {
          initial: 'idle',
          states: {
            idle: { always: { guard: 'hasScan', target: 'scanning' } },
            scanning: {
              invoke: {
                src: 'scanRange',
                input: ({ context }) => {
                  const range = context.scans[0] ?? { from: 0, to: -1 };
                  return { venue: context.venue, symbol: context.symbol, calendar: context.config.calendar, ...range };
                },
                onDone: {
                  target: 'idle',
                  actions: assign(({ context, event }) => ({
                    scans: context.scans.slice(1),
                    unrecorded: [...context.unrecorded, ...event.output],
                    errorStreak: 0,
                  })),
                },
                onError: {
                  target: 'waiting',
                  actions: 'recordError',
                },
              },
            },
            waiting: { after: { errorDelay: 'scanning' } },
          },
        },
        record: {
          initial: 'idle',
          states: {
            idle: { always: { guard: 'hasUnrecorded', target: 'recording' } },
            recording: {
              entry: assign({ recording: ({ context }) => context.unrecorded.length }),
              invoke: {
                src: 'recordGaps',
                input: ({ context }) => ({ gaps: context.unrecorded.slice(0, context.recording) }),
                onDone: {
                  target: 'idle',
                  actions: assign(({ context, event }) => {
                    const known = new Set(context.jobs.map((j) => j.id));
                    const fresh = event.output
                      .filter((g) => g.needsFill && !known.has(g.id))
                      .map(({ needsFill: _needsFill, created: _created, ...gap }): GapJob => ({ ...gap, attempts: 0 }));
                    return {
                      unrecorded: context.unrecorded.slice(context.recording),
                      recording: 0,
                      jobs: [...context.jobs, ...fresh],
                      stats: { ...context.stats, found: context.stats.found + event.output.filter((g) => g.created).length },
                      errorStreak: 0,
                    };
                  }),
                },
                onError: {
                  target: 'waiting',
                  actions: 'recordError',
                },
              },
            },
            waiting: { after: { errorDelay: 'recording' } },
          },
        },
        fill: {
          initial: 'idle',
          states: {
            idle: { always: { guard: 'hasJob', target: 'filling' } },
            filling: {
              entry: assign({
                jobs: ({ context }) => {
                  const [head, ...rest] = context.jobs;
                  return head ? [{ ...head, attempts: head.attempts + 1 }, ...rest] : rest;
                },
              }),
              invoke: {
                src: 'fillGap',
                input: ({ context }) => {
                  const job = context.jobs[0];
                  if (!job) throw new Error('fill started without a job');
                  return {
                    job,
                    final: job.attempts >= context.config.maxAttempts,
                    calendar: context.config.calendar,
                    interpolate: context.config.interpolate,
                  };
                },
                onDone: [
                  {
                    guard: ({ event }) => event.output.status === 'retry',
                    target: 'waiting',
                    actions: assign(({ context, event }) => ({
                      stats: { ...context.stats, rows: context.stats.rows + event.output.rows },
                    })),
                  },
                  {
                    target: 'idle',
                    actions: assign(({ context, event }) => {
                      const o = event.output;
                      const s = context.stats;
                      return {
                        jobs: context.jobs.slice(1),
                        stats: {
                          ...s,
                          rows: s.rows + o.rows,
                          filled: s.filled + (o.status === 'filled' ? 1 : 0),
                          unfillable: s.unfillable + (o.status === 'unfillable' ? 1 : 0),
                          abandoned: s.abandoned + (o.status === 'abandoned' ? 1 : 0),
                        },
                      };
                    }),
                  },
                ],
                onError: [
                  {
                    // Storage failed on the last attempt: leave the gap to a later run (it stays open in data_gaps).
                    guard: ({ context }) => (context.jobs[0]?.attempts ?? 0) >= context.config.maxAttempts,
                    target: 'idle',
                    actions: assign(({ context, event }) => ({
                      jobs: context.jobs.slice(1),
                      lastError: errorText(event.error),
                      stats: { ...context.stats, abandoned: context.stats.abandoned + 1 },
                    })),
                  },
                  {
                    target: 'waiting',
                    actions: assign(({ context, event }) => ({
                      lastError: errorText(event.error),
                      jobs: context.jobs.map((j, i) => (i === 0 ? { ...j, lastError: errorText(event.error) } : j)),
                    })),
                  },
                ],
              },
            },
            waiting: { after: { fillDelay: 'filling' } },
          },
        },
      },
    },
    stopped: { type: 'final' },
  },
});
