import type { JetStreamClient } from '@nats-io/jetstream';
import { fromPromise } from 'xstate';
import type { Logger } from '../../config/index.ts';
import {
  checkWindow,
  QualityBoard,
  type BarInputOptions,
  type CheckConfig,
  type CheckState,
  type HealthState,
  type QualityStateChanged,
  type TickAggregate,
} from './index.ts';
import { createBarInputs } from './bar-feed.ts';
import type { Db } from '../../sql/index.ts';
import { latestQualityReport, readTickAggregates, upsertQualityReport } from '../../sql/index.ts';
import { publishJson, subjects } from '../../streams/index.ts';
import type { Alerter } from '../../ops/index.ts';
import type { BarWindow, Evaluation, ReportOut } from './consistency.machine.ts';

export type ConsistencyDeps = BarInputOptions & {
  db: Db;
  js: JetStreamClient;
  log: Logger;
  /** Where symbol states are announced in-process (default: a board of this actor's own). */
  board?: QualityBoard;
  /** Raises `ops.alert.quarantined` / `degraded` / `recovered` when a symbol's health changes. */
  alert?: Alerter;
};

/**
 * Effects of the consistency machine: the last stored state (`resume`), a window's
 * checks with the bars' own ticks from the `ticks` table (`evaluate`), and the
 * report: board, `quality_reports`, `md.quality.<venue>.<symbol>` (`publish`).
 */
export function createConsistencyActors(deps: ConsistencyDeps) {
  const { db, js } = deps;
  const board = deps.board ?? new QualityBoard();
  const log = deps.log.child({ actor: 'consistency' });
  const now = deps.now ?? Date.now;

  const resume = fromPromise<{ state: HealthState | undefined }, { venue: string; symbol: string }>(async ({ input }) => {
    const last = await latestQualityReport(db, input.venue, input.symbol);
    if (last) board.set(input.venue, input.symbol, { state: last.state, since: now(), reason: 'restored from quality_reports' });
    return { state: last?.state };
  });

  const evaluate = fromPromise<Evaluation, { venue: string; symbol: string; window: BarWindow; checkState: CheckState; checks: CheckConfig }>(
    async ({ input }) => {
      const live = input.window.bars.filter((b) => b.source === undefined || b.source === 'live');
      let ticks: Map<number, TickAggregate> | undefined;
      if (live.length > 0) {
        const times = live.map((b) => b.ts);
        const rows = await readTickAggregates(db, input.venue, input.symbol, Math.min(...times), Math.max(...times));
        ticks = new Map(rows.map((r) => [r.ts, r]));
      }
      const { findings, state } = checkWindow(input.window.bars, input.checkState, input.checks, ticks);
      return { findings, checkState: state };
    },
  );

  const publish = fromPromise<void, ReportOut>(async ({ input }) => {
    const { report, change } = input;
    const { venue, symbol } = report;
    if (change) board.set(venue, symbol, { state: change.to, since: now(), reason: change.reason });
    else if (!board.get(venue, symbol)) board.set(venue, symbol, { state: report.state, since: now(), reason: 'first report' });
    await upsertQualityReport(db, report);
    const subject = subjects.quality(venue, symbol);
    await publishJson(js, { subject, payload: report, msgId: `${venue}:${symbol}:quality:${report.windowFrom}:${report.findings.length}` });
    if (change) {
      const event: QualityStateChanged = {
        type: 'quality.state_changed',
        venue,
        symbol,
        from: change.from,
        to: change.to,
        reason: change.reason,
        windowFrom: report.windowFrom,
        windowTo: report.windowTo,
      };
      await publishJson(js, { subject, payload: event, msgId: `${venue}:${symbol}:state:${report.windowFrom}:${change.to}` });
      const level = change.to === 'healthy' ? 'info' : 'warn';
      log[level]({ venue, symbol, from: change.from, to: change.to, reason: change.reason }, 'quality state changed');
      if (deps.alert) {
        const kind = change.to === 'healthy' ? 'recovered' : change.to;
        const severity = change.to === 'quarantined' ? 'critical' : change.to === 'degraded' ? 'warning' : 'info';
        const message =
          change.to === 'quarantined'
            ? `${venue}/${symbol} quarantined: predictions withheld (${change.reason})`
            : change.to === 'degraded'
              ? `${venue}/${symbol} data degraded (${change.reason})`
              : `${venue}/${symbol} data healthy again (${change.reason})`;
        await deps.alert(kind, {
          severity,
          message: message.slice(0, 1_000),
          venue,
          symbol,
          details: { from: change.from, to: change.to, reason: change.reason, windowFrom: report.windowFrom, windowTo: report.windowTo },
        });
      }
    }
    if (report.findings.length > 0) {
      log.info(
        { venue, symbol, windowFrom: report.windowFrom, state: report.state, findings: report.findings.length, kinds: [...new Set(report.findings.map((f) => f.kind))] },
        'quality findings',
      );
    }
  });

  const { barFeed, ticker } = createBarInputs(js, log, deps);

  return { resume, evaluate, publish, barFeed, ticker };
}
