import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger, Settings } from '../config/index.ts';
import type { Db } from '../sql/index.ts';
import { bindMarketSync, MARKET_SYNC_READY_STATES, startLagMonitor, stateName, type LagMonitor, type MarketSyncLike } from './actor-metrics.ts';
import { createAlerter, type Alerter } from './alerts.ts';
import { observeBus, type BusObserver } from './bus-metrics.ts';
import { databaseCheck, HealthChecks, natsCheck, stateCheck } from './health.ts';
import { startOpsServer, type OpsServer } from './http.ts';
import { createOpsMetrics, type OpsMetrics, type OpsMetricsOptions } from './metrics.ts';
import { startSystemService, type SystemServiceDeps, type SystemServiceHandle } from './system-service.ts';
import { startBackupSchedule } from './backup/index.ts';

export type OpsDeps = {
  nc: NatsConnection;
  db: Db;
  settings: Settings;
  log: Logger;
  /** The document `signals.status` answers with. */
  status: () => unknown;
  /** The rows `signals.symbols` answers with. */
  symbols?: () => unknown;
  /** Durable consumers whose lag is measured (default: the ingest durable on MD_TICKS). */
  consumers?: readonly { stream: string; durable: string }[];
  /** Lag above which `consumer_lag` is raised (default 100,000). */
  lagAlertThreshold?: number;
  lagIntervalMs?: number;
  /** Overrides settings.METRICS_PORT (0 = a free port). */
  port?: number;
  host?: string;
  metricsOptions?: OpsMetricsOptions;
  handlers?: SystemServiceDeps['handlers'];
  /** Derive prediction, gap, quality, swap and rollback metrics from the bus (default true). */
  observeBus?: boolean;
  /** Take the scheduled backups (BACKUP_SCHEDULE; default true). */
  backups?: boolean;
};

export type OpsHandle = {
  readonly metrics: OpsMetrics;
  readonly health: HealthChecks;
  readonly alert: Alerter;
  readonly server: OpsServer;
  readonly service: SystemServiceHandle;
  readonly lag: LagMonitor;
  /** Feeds the ingest metrics from marketSync and adds its readiness check. */
  attachMarketSync(actor: MarketSyncLike): void;
  /** When the next scheduled backup is due (epoch ms); undefined when off. */
  nextBackupAt(): number | undefined;
  /** Stops the service, the server, the observers (in that order). */
  stop(): Promise<void>;
};

/**
 * Everything operational of one process in one call: metrics, readiness checks
 * (NATS, database; marketSync once attached), the HTTP server on METRICS_PORT, the
 * bus observer, the consumer-lag monitor with alerts, and the `signals` service.
 */
export async function startOps(deps: OpsDeps): Promise<OpsHandle> {
  const metrics = createOpsMetrics(deps.metricsOptions);
  const health = new HealthChecks();
  health.register('nats', natsCheck(deps.nc));
  health.register('database', databaseCheck(deps.db));
  const alert = createAlerter(jetstream(deps.nc), { log: deps.log, metrics });
  const server = await startOpsServer({
    port: deps.port ?? deps.settings.METRICS_PORT,
    ...(deps.host !== undefined ? { host: deps.host } : {}),
    metrics,
    health,
    log: deps.log,
  });
  const unbinds: (() => void)[] = [];
  let observer: BusObserver | undefined;
  let service: SystemServiceHandle | undefined;
  let lag: LagMonitor | undefined;
  try {
    observer = deps.observeBus === false ? undefined : await observeBus(deps.nc, metrics, deps.log);
    lag = startLagMonitor({
      nc: deps.nc,
      metrics,
      log: deps.log,
      consumers: deps.consumers ?? [{ stream: 'MD_TICKS', durable: deps.settings.INGEST_DURABLE }],
      ...(deps.lagIntervalMs !== undefined ? { intervalMs: deps.lagIntervalMs } : {}),
      ...(deps.lagAlertThreshold !== undefined ? { alertThreshold: deps.lagAlertThreshold } : {}),
      alert,
    });
    service = await startSystemService({ nc: deps.nc, log: deps.log, status: deps.status, ...(deps.symbols ? { symbols: deps.symbols } : {}), ...(deps.handlers ? { handlers: deps.handlers } : {}) });
  } catch (err) {
    lag?.stop();
    await observer?.stop();
    await server.close();
    throw err;
  }
  const svc = service;
  const lagMonitor = lag;
  const backups =
    deps.backups === false || deps.settings.BACKUP_SCHEDULE.trim() === 'off'
      ? undefined
      : startBackupSchedule({ db: deps.db, databaseUrl: deps.settings.DATABASE_URL, root: deps.settings.BACKUP_DIR, keep: deps.settings.BACKUP_KEEP, log: deps.log, alert }, deps.settings.BACKUP_SCHEDULE);
  return {
    metrics,
    health,
    alert,
    server,
    service: svc,
    lag: lagMonitor,
    attachMarketSync(actor) {
      unbinds.push(bindMarketSync(actor, metrics));
      unbinds.push(health.register('marketSync', stateCheck(() => stateName(actor.getSnapshot().value), MARKET_SYNC_READY_STATES)));
    },
    nextBackupAt: () => backups?.nextAt(),
    async stop() {
      backups?.stop();
      await svc.stop().catch((err: unknown) => deps.log.warn({ err }, 'system service stop failed'));
      lagMonitor.stop();
      for (const u of unbinds.splice(0)) u();
      await observer?.stop();
      await server.close();
    },
  };
}
