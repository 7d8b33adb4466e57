import { userInfo } from 'node:os';
import { jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { loadSettings, redactUrl, type Settings } from '../../config/index.ts';
import { activateVersion, LifecycleError, registerCandidate, rollback, startRollout, type RegistryEnv } from '../../actors/lifecycle/index.ts';
import { ANY_REGIME, GLOBAL_SCOPE, scopeOf } from '../../actors/lifecycle/index.ts';
import { loadModelDir, packArtifact, readArtifactDir } from '../../models/index.ts';
import { createPool, type Db } from '../../sql/index.ts';
import { getVersion, listDeployments, listVersions, type VersionRow } from '../../sql/index.ts';
import { connectNats, decodeJson, isToken, KV_BUCKETS, openBucket, publishJson, retrainResultSchema, subjects, type RetrainCommand } from '../../streams/index.ts';
import { cliLogger, intFlag, parseFlags, type CliCommand } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';

/** The OS user running the CLI (the `actor` of manual registry changes). */
function cliUser(): string {
  try {
    return userInfo().username || 'unknown';
  } catch {
    return 'unknown'; // no passwd entry for this uid
  }
}

const usage = `usage: signals models <list|show|promote|rollout|rollback|retrain|import> [options]

The model registry and lifecycle (DATABASE_URL, NATS_URL).

  list [--scope S] [--role pretrained|online] [--limit N] [--json]
        versions, newest first: scope, role, status, test AUC/F1/RMSE, artifact
  show <version> [--json]
        one version: lineage, data range, metrics, gate comparison, deployments
  promote <version> [--reason TEXT] [--force]
        activate a version now (no gate: a person decided); writes KV model_active,
        records the deployment, publishes model.events.deployed. A version the gate
        or verification rejected needs --force with a --reason (recorded as forced)
  rollout <version> [--reason TEXT]
        start the staged rollout of a candidate against the version serving its scope:
        shadow, then canary, then promoted or rolled back on live evidence by the
        running system (ROLLOUT_*); publishes model.events.shadow_started
  rollback [<version>] (--scope S | --venue V --symbol S) [--role R] [--regime R] [--reason TEXT]
        back to the previous version of the scope (or to <version>);
        publishes model.events.rolledback
  retrain [--symbol S] [--venue V] [--trigger manual|schedule|drift|feedback]
          [--config JSON] [--wait] [--timeout SECONDS]
        publish a model.retrain.cmd; --wait prints the model.retrain.result
  import <checkpoint-dir> [--scope S] [--role R] [--regime R]
        register a checkpoint directory as a candidate (the first model ever is v1.0.0)

exit codes: 2 usage, 8 database/NATS unavailable, 9 corrupted artifact, 10 not found,
            3 the operation is not possible (e.g. nothing to roll back to), 1 internal`;

const options = {
  scope: { type: 'string' },
  role: { type: 'string' },
  regime: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
  reason: { type: 'string' },
  venue: { type: 'string' },
  symbol: { type: 'string' },
  trigger: { type: 'string' },
  config: { type: 'string' },
  wait: { type: 'boolean' },
  timeout: { type: 'string' },
  force: { type: 'boolean' },
} as const;

type Flags = ReturnType<typeof parseFlags<typeof options>>['values'];

/** Database and NATS for one command; connection failures become exit code 8. */
async function withServices<T>(settings: Settings, needNats: boolean, fn: (db: Db, nc: NatsConnection | undefined) => Promise<T>): Promise<T> {
  const db = createPool(settings.DATABASE_URL, 2);
  let nc: NatsConnection | undefined;
  try {
    try {
      await db.query('SELECT 1 FROM model_versions LIMIT 1');
    } catch (err) {
      throw new CliError(`database unavailable or not migrated (${(err as Error).message})`, EXIT.unavailable, { cause: err });
    }
    if (needNats) {
      try {
        nc = await connectNats({ ...settings, NATS_URL: settings.NATS_URL }, 'signals-models-cli');
      } catch (err) {
        throw new CliError(`NATS unavailable at ${redactUrl(settings.NATS_URL)} (${(err as Error).message})`, EXIT.unavailable, { cause: err });
      }
    }
    return await fn(db, nc);
  } catch (err) {
    if (err instanceof LifecycleError) {
      const code = err.code === 'not_found' || err.code === 'no_artifact' ? EXIT.notFound : err.code === 'corrupt' ? EXIT.checksum : EXIT.input;
      throw new CliError(err.message, code, { cause: err });
    }
    throw err;
  } finally {
    await nc?.close().catch(() => undefined);
    await db.end().catch(() => undefined);
  }
}

async function envOf(db: Db, nc: NatsConnection): Promise<RegistryEnv> {
  return { db, kv: await openBucket(nc, KV_BUCKETS.modelActive), js: jetstream(nc), log: cliLogger() };
}

const num = (v: unknown, digits = 4): string => (typeof v === 'number' && Number.isFinite(v) ? v.toFixed(digits) : '-');
const exp = (v: unknown): string => (typeof v === 'number' && Number.isFinite(v) ? v.toExponential(3) : '-');
const iso = (ms: number | null): string => (ms === null ? '-' : new Date(ms).toISOString().replace('T', ' ').slice(0, 19));
const size = (b: number | null): string => (b === null ? 'removed' : b < 1024 ? `${b} B` : b < 1048576 ? `${(b / 1024).toFixed(1)} KiB` : `${(b / 1048576).toFixed(1)} MiB`);

function testMetrics(v: VersionRow): Record<string, unknown> {
  const t = v.metrics.test;
  return typeof t === 'object' && t !== null ? Object.fromEntries(Object.entries(t)) : {};
}

/** A plain text table: header, rule, rows; columns padded to their widest cell. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function scopeFlag(v: Flags): string | undefined {
  if (v.scope !== undefined) return v.scope;
  if (v.symbol !== undefined) {
    if (v.venue === undefined) throw new UsageError('--symbol needs --venue (or give --scope <venue>.<symbol>)');
    if (!isToken(v.venue) || !isToken(v.symbol)) throw new UsageError('--venue and --symbol must match [A-Za-z0-9_-]{1,32}');
    return scopeOf(v.venue, v.symbol);
  }
  return undefined;
}

function roleFlag(v: Flags): 'pretrained' | 'online' | undefined {
  if (v.role === undefined) return undefined;
  if (v.role !== 'pretrained' && v.role !== 'online') throw new UsageError(`--role must be pretrained or online (got ${JSON.stringify(v.role)})`);
  return v.role;
}

async function list(settings: Settings, v: Flags): Promise<number> {
  const role = roleFlag(v);
  const scope = scopeFlag(v);
  const rows = await withServices(settings, false, (db) =>
    listVersions(db, { ...(scope ? { scope } : {}), ...(role ? { role } : {}), limit: intFlag(v.limit, 'limit', 50, 1) }),
  );
  if (v.json) {
    process.stdout.write(`${JSON.stringify(rows.map(({ params: _p, ...r }) => r), null, 2)}\n`);
    return EXIT.ok;
  }
  if (rows.length === 0) {
    process.stdout.write('no model versions registered\n');
    return EXIT.ok;
  }
  process.stdout.write(
    `${table(
      ['VERSION', 'SCOPE', 'ROLE', 'REGIME', 'KIND', 'STATUS', 'AUC', 'F1', 'RMSE', 'ARTIFACT', 'CREATED (UTC)', 'PARENT'],
      rows.map((r) => {
        const t = testMetrics(r);
        return [r.version, r.scope, r.role, r.regime ?? '-', r.kind, r.status + (r.everActive && r.status !== 'active' ? '*' : ''), num(t.rocAuc), num(t.f1), exp(t.rmse), size(r.artifactBytes), iso(r.createdAt), r.parentVersion ?? '-'];
      }),
    )}\n(* = was active before)\n`,
  );
  return EXIT.ok;
}

async function show(settings: Settings, version: string, v: Flags): Promise<number> {
  const { row, deployments } = await withServices(settings, false, async (db) => {
    const r = await getVersion(db, version);
    if (!r) throw new CliError(`model version ${version} is not in the registry`, EXIT.notFound);
    const d = (await listDeployments(db, { scope: r.scope })).filter((x) => x.toVersion === version || x.fromVersion === version);
    return { row: r, deployments: d };
  });
  if (v.json) {
    process.stdout.write(`${JSON.stringify({ ...row, deployments }, null, 2)}\n`);
    return EXIT.ok;
  }
  const t = testMetrics(row);
  const gate = row.metrics.gate;
  const g = typeof gate === 'object' && gate !== null ? Object.fromEntries(Object.entries(gate)) : undefined;
  const lines = [
    `version    ${row.version}   (${row.status}${row.everActive ? ', has been active' : ''})`,
    `scope      ${row.scope}   role ${row.role}   regime ${row.regime ?? '-'}   kind ${row.kind}`,
    `lineage    parent ${row.parentVersion ?? '-'}   run ${row.runId ?? '-'}`,
    `data       ${iso(row.dataFrom)} .. ${iso(row.dataTo)}`,
    `artifact   ${size(row.artifactBytes)}   sha256 ${row.artifactSha256 ?? '-'}`,
    `times      created ${iso(row.createdAt)}   activated ${iso(row.activatedAt)}   retired ${iso(row.retiredAt)}`,
    `test       n ${String(t.n ?? '-')}   AUC ${num(t.rocAuc)}   F1 ${num(t.f1)}   RMSE ${exp(t.rmse)}   dir.acc ${num(t.directionAccuracy)}`,
  ];
  if (g) {
    lines.push(`gate       ${String(g.decision)}${g.firstModel === true ? ' (first model of its scope)' : ''}`);
    if (Array.isArray(g.reasons)) for (const reason of g.reasons) lines.push(`           - ${String(reason)}`);
  }
  if (deployments.length) {
    lines.push('', table(['AT (UTC)', 'ACTION', 'FROM', 'TO', 'ACTOR', 'REASON'], deployments.map((d) => [iso(d.at), d.action, d.fromVersion ?? '-', d.toVersion, d.actor, d.reason])));
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}

async function promote(settings: Settings, version: string, v: Flags): Promise<number> {
  if (v.force === true && (v.reason === undefined || v.reason.trim() === '')) throw new UsageError('--force needs a --reason (it is recorded in model_deployments)');
  const r = await withServices(settings, true, async (db, nc) => {
    if (!nc) throw new Error('unreachable');
    return activateVersion(await envOf(db, nc), {
      version,
      reason: v.reason ?? 'manual promote (cli)',
      actor: `cli:${cliUser()}`,
      ...(v.force === true ? { force: true } : {}),
    });
  });
  process.stdout.write(`promoted ${r.version} in ${r.scope} (${r.role}${r.regime ? `/${r.regime}` : ''}); previous ${r.from ?? 'none'}; KV written in ${r.latencyMs} ms\n`);
  return EXIT.ok;
}

async function rollout(settings: Settings, version: string, v: Flags): Promise<number> {
  const r = await withServices(settings, true, async (db, nc) => {
    if (!nc) throw new Error('unreachable');
    return startRollout(await envOf(db, nc), { version, reason: v.reason ?? `rollout requested (cli:${cliUser()})` });
  });
  process.stdout.write(`rollout ${r.rollout.id}: ${r.rollout.version} in shadow beside ${r.rollout.champion} (${r.rollout.scope}); follow it with: signals status\n`);
  return EXIT.ok;
}

async function doRollback(settings: Settings, version: string | undefined, v: Flags): Promise<number> {
  const decidedAt = Date.now();
  const role = roleFlag(v);
  const r = await withServices(settings, true, async (db, nc) => {
    if (!nc) throw new Error('unreachable');
    let scope = scopeFlag(v);
    if (scope === undefined && version !== undefined) scope = (await getVersion(db, version))?.scope;
    if (scope === undefined) throw new UsageError('give the scope (--scope S, or --venue V --symbol S), or a version to roll back to');
    return rollback(await envOf(db, nc), {
      scope,
      ...(role ? { role } : {}),
      ...(v.regime ? { regime: v.regime } : {}),
      ...(version !== undefined ? { toVersion: version } : {}),
      reason: v.reason ?? 'manual rollback (cli)',
      actor: `cli:${cliUser()}`,
      decidedAt,
    });
  });
  process.stdout.write(`rolled back ${r.scope} (${r.role}) from ${r.from ?? 'none'} to ${r.version}; KV written ${r.latencyMs} ms after the decision\n`);
  return EXIT.ok;
}

async function retrain(settings: Settings, v: Flags): Promise<number> {
  const trigger = v.trigger ?? 'manual';
  if (trigger !== 'manual' && trigger !== 'schedule' && trigger !== 'drift' && trigger !== 'feedback') {
    throw new UsageError(`--trigger must be manual, schedule, drift or feedback (got ${JSON.stringify(trigger)})`);
  }
  if (v.symbol !== undefined && !isToken(v.symbol)) throw new UsageError('--symbol must match [A-Za-z0-9_-]{1,32}');
  if (v.venue !== undefined && !isToken(v.venue)) throw new UsageError('--venue must match [A-Za-z0-9_-]{1,32}');
  let config: Record<string, unknown> | undefined;
  if (v.config !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v.config);
    } catch (err) {
      throw new UsageError(`--config must be a JSON object (${(err as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--config must be a JSON object');
    config = Object.fromEntries(Object.entries(parsed));
  }
  const cmd: RetrainCommand = {
    requestId: `cli-${new Date().toISOString().replace(/[-:.TZ]/g, '')}-${crypto.randomUUID().slice(0, 8)}`,
    trigger,
    ...(v.symbol !== undefined ? { symbol: v.symbol } : {}),
    ...(v.venue !== undefined ? { venue: v.venue } : {}),
    ...(config ? { config } : {}),
  };
  const timeoutS = intFlag(v.timeout, 'timeout', 1800, 1);
  return withServices(settings, true, async (_db, nc) => {
    if (!nc) throw new Error('unreachable');
    // Subscribe before publishing so the result cannot be missed.
    const sub = v.wait ? nc.subscribe(subjects.retrainResult) : undefined;
    await publishJson(jetstream(nc), { subject: subjects.retrainCmd, payload: cmd, msgId: `retrain-cmd:${cmd.requestId}` });
    process.stdout.write(`retrain requested: ${cmd.requestId} (scope ${v.symbol !== undefined && v.venue !== undefined ? `${v.venue}.${v.symbol}` : v.symbol ?? GLOBAL_SCOPE}, trigger ${trigger})\n`);
    if (!sub) return EXIT.ok;
    const timer = setTimeout(() => sub.unsubscribe(), timeoutS * 1000);
    try {
      for await (const m of sub) {
        const r = decodeJson(retrainResultSchema, m.data, 1_048_576);
        if (!r.ok || r.value.requestId !== cmd.requestId) continue;
        const res = r.value;
        process.stdout.write(
          `result: ${res.status}${res.version ? ` version ${res.version}` : ''} deployed ${res.deployed}${res.error ? `\n  ${res.error}` : ''}\n`,
        );
        return res.status === 'failed' ? EXIT.internal : EXIT.ok;
      }
    } finally {
      clearTimeout(timer);
    }
    throw new CliError(`no result for ${cmd.requestId} within ${timeoutS} s (is the model lifecycle running?)`, EXIT.unavailable);
  });
}

async function importDir(settings: Settings, dir: string, v: Flags): Promise<number> {
  const role = roleFlag(v) ?? 'pretrained';
  const loaded = await loadModelDir(dir);
  loaded.model.dispose();
  const packed = packArtifact(await readArtifactDir(dir));
  const version = await withServices(settings, false, (db) =>
    registerCandidate(db, {
      scope: scopeFlag(v) ?? GLOBAL_SCOPE,
      role,
      kind: loaded.preprocessor.kind,
      regime: v.regime ?? ANY_REGIME,
      runId: loaded.runId,
      artifact: packed,
      params: { importedFrom: dir, lookback: loaded.preprocessor.lookback, horizon: loaded.preprocessor.horizon, volWindow: loaded.preprocessor.volWindow },
      dataFrom: loaded.preprocessor.fittedOn.fromTs,
    }),
  );
  process.stdout.write(`registered ${dir} as ${version} (candidate; run ${loaded.runId}, sha256 ${packed.sha256.slice(0, 12)}…); activate it with: signals models promote ${version}\n`);
  return EXIT.ok;
}

async function run(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const { values: v, positionals } = parseFlags(rest, options, true);
  const settings = loadSettings();
  const arg = positionals[0];
  if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
  switch (sub) {
    case 'list':
      return list(settings, v);
    case 'show':
      if (arg === undefined) throw new UsageError('usage: signals models show <version>');
      return show(settings, arg, v);
    case 'promote':
      if (arg === undefined) throw new UsageError('usage: signals models promote <version>');
      return promote(settings, arg, v);
    case 'rollout':
      if (arg === undefined) throw new UsageError('usage: signals models rollout <version>');
      return rollout(settings, arg, v);
    case 'rollback':
      return doRollback(settings, arg, v);
    case 'retrain':
      return retrain(settings, v);
    case 'import':
      if (arg === undefined) throw new UsageError('usage: signals models import <checkpoint-dir>');
      return importDir(settings, arg, v);
    default:
      throw new UsageError(`unknown models subcommand ${JSON.stringify(sub ?? '')}\n\n${usage}`);
  }
}

export const modelsCommand: CliCommand = {
  name: 'models',
  summary: 'model registry and lifecycle: list, show, promote, rollout, rollback, retrain, import',
  usage,
  run,
};
