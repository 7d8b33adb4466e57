import type { JetStreamClient } from '@nats-io/jetstream';
import { fromPromise } from 'xstate';
import type { Logger } from '../../config/index.ts';
import {
  createCalendar,
  fillGap,
  findTimeGaps,
  type BarInputOptions,
  type CalendarSpec,
  type FillOutcome,
  type FillStore,
  type Gap,
  type GapEvent,
  type HistoryProvider,
} from './index.ts';
import { createBarInputs } from './bar-feed.ts';
import type { Db } from '../../sql/index.ts';
import {
  finishGapAttempt,
  insertFilledBars,
  lastBarTime,
  listGaps,
  readBarsAround,
  readBarTimes,
  recordGaps as recordGapRows,
  startGapAttempt,
  type GapRecord,
} from '../../sql/index.ts';
import { publishJson, subjects } from '../../streams/index.ts';
import type { GapJob, RecordedGap, ResumeOutput, ScopeInput } from './backfill.machine.ts';

export type BackfillDeps = BarInputOptions & {
  db: Db;
  js: JetStreamClient;
  provider: HistoryProvider;
  log: Logger;
  /**
   * Start the detector at the newest stored bar (default). `false` when the feed
   * resumes exactly where it stopped (a durable consumer, see
   * actors/quality-supervisor.service.ts): stored bars the feed has not delivered
   * yet must still be checked, so the detector starts at the first bar fed.
   */
  resumeFromLastBar?: boolean;
};

/** Filled bars -> the store the fill logic needs, on the `data_gaps` / `bars_1m` repository. */
export function createFillStore(db: Db): FillStore {
  return {
    startAttempt: async (id) => {
      await startGapAttempt(db, id);
    },
    barTimes: (venue, symbol, from, to) => readBarTimes(db, venue, symbol, from, to),
    barsAround: (venue, symbol, from, to) => readBarsAround(db, venue, symbol, from, to, ['interpolated']),
    writeBars: (venue, symbol, bars, source) => insertFilledBars(db, venue, symbol, bars, source),
    finish: async (id, result) => {
      await finishGapAttempt(db, id, result);
    },
  };
}

const toJob = (r: GapRecord): GapJob => ({
  id: r.id,
  venue: r.venue,
  symbol: r.symbol,
  from: r.from,
  to: r.to,
  kind: r.kind,
  bars: r.bars,
  attempts: 0,
});

/**
 * Effects of the backfill machine, on PostgreSQL (`data_gaps`, `bars_1m` +
 * `bar_outbox`), JetStream (`md.gap.<venue>.<symbol>` events, the bar feed) and a
 * history provider. Use as `backfillMachine.provide({ actors: createBackfillActors(deps) })`.
 */
export function createBackfillActors(deps: BackfillDeps) {
  const { db, js, provider } = deps;
  const log = deps.log.child({ actor: 'backfill' });
  const store = createFillStore(db);
  // Running totals of this factory's actors, logged with every resolved gap
  // (`gapStats(db)` in sql/gaps.repo.ts gives the same over all of data_gaps).
  const totals = { found: 0, filled: 0, unfillable: 0, abandoned: 0, rows: 0 };

  async function announce(event: GapEvent): Promise<void> {
    // The data_gaps row is the truth; the event is a notification. A failed publish
    // is logged, not retried forever (it would hold up every later gap).
    try {
      await publishJson(js, {
        subject: subjects.gap(event.venue, event.symbol),
        payload: event,
        msgId: `${event.venue}:${event.symbol}:gap:${event.gapId}:${event.type}`,
      });
    } catch (err) {
      log.warn({ err, event: event.type, gapId: event.gapId }, 'gap event not published');
    }
  }

  const resume = fromPromise<ResumeOutput, ScopeInput>(async ({ input }) => {
    const open = await listGaps(db, { venue: input.venue, symbol: input.symbol, statuses: ['open', 'filling'] });
    const lastBarTs = deps.resumeFromLastBar === false ? undefined : await lastBarTime(db, input.venue, input.symbol);
    if (open.length > 0) log.info({ venue: input.venue, symbol: input.symbol, open: open.length }, 'resuming open gaps');
    return { jobs: open.map(toJob), lastBarTs };
  });

  const scanRange = fromPromise<Gap[], ScopeInput & { from: number; to: number }>(async ({ input }) => {
    const times = await readBarTimes(db, input.venue, input.symbol, input.from, input.to);
    const scope = { venue: input.venue, symbol: input.symbol, calendar: createCalendar(input.calendar), interval: '1m' as const };
    const gaps = findTimeGaps(times, scope, { from: input.from, to: input.to });
    log.info({ venue: input.venue, symbol: input.symbol, from: input.from, to: input.to, bars: times.length, gaps: gaps.length }, 'range scanned');
    return gaps;
  });

  const recordGaps = fromPromise<RecordedGap[], { gaps: Gap[] }>(async ({ input }) => {
    const rows = await recordGapRows(db, input.gaps);
    for (const r of rows) {
      if (!r.created) continue;
      totals.found += 1;
      log.info({ venue: r.venue, symbol: r.symbol, gapId: r.id, from: r.from, to: r.to, bars: r.bars, kind: r.kind }, 'gap detected');
      await announce({ type: 'gap.detected', venue: r.venue, symbol: r.symbol, from: r.from, to: r.to, kind: r.kind, bars: r.bars, gapId: r.id });
    }
    return rows.map((r) => ({ ...toJob(r), needsFill: r.status === 'open' || r.status === 'filling', created: r.created }));
  });

  const fill = fromPromise<FillOutcome, { job: GapJob; final: boolean; calendar: CalendarSpec; interpolate: boolean }>(
    async ({ input }) => {
      const { job } = input;
      const started = performance.now();
      const outcome = await fillGap(job, {
        store,
        provider,
        calendar: createCalendar(input.calendar),
        interval: '1m',
        final: input.final,
        interpolate: input.interpolate,
      });
      const base = { venue: job.venue, symbol: job.symbol, from: job.from, to: job.to, kind: job.kind, bars: job.bars, gapId: job.id };
      totals.rows += outcome.rows;
      if (outcome.status === 'filled') totals.filled += 1;
      else if (outcome.status === 'unfillable') totals.unfillable += 1;
      else if (outcome.status === 'abandoned') totals.abandoned += 1;
      const fields = {
        ...base,
        attempt: job.attempts,
        rows: outcome.rows,
        method: outcome.method,
        ms: Math.round(performance.now() - started),
        totals: { ...totals },
      };
      if (outcome.status === 'filled') {
        log.info(fields, 'gap filled');
        await announce({ type: 'gap.filled', ...base, rows: outcome.rows, method: outcome.method });
      } else if (outcome.status === 'unfillable') {
        log.warn({ ...fields, missing: outcome.missing }, 'gap unfillable: history has no bars for it');
        await announce({ type: 'gap.unfillable', ...base, rows: outcome.rows, missing: outcome.missing, method: outcome.method });
      } else if (outcome.status === 'retry') {
        log.info({ ...fields, missing: outcome.missing, error: outcome.error }, 'gap fill incomplete; will retry');
      } else {
        log.warn({ ...fields, error: outcome.error }, 'gap fill abandoned: history unavailable; left open');
      }
      return outcome;
    },
  );

  const { barFeed, ticker } = createBarInputs(js, log, deps);

  return { resume, scanRange, recordGaps, fillGap: fill, barFeed, ticker };
}
