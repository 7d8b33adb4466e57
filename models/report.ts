import { basename, relative, dirname } from 'node:path';
import type { ForecastMetrics } from './metrics.ts';
import type { RunMetrics } from './run-metrics.ts';

const iso = (ts: number | null) => (ts === null ? '-' : new Date(ts).toISOString());

function num(v: number | null, digits = 6): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-2 || a >= 1e5) ? v.toExponential(4) : v.toFixed(digits);
}

/** One markdown row per predictor, the same metric columns for the model and every baseline. */
export function metricsTable(rows: readonly { name: string; m: ForecastMetrics }[]): string {
  const head = '| predictor | n | MAE | RMSE | MAPE % (price) | R² | direction acc. | ROC AUC | F1 | Brier |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    ({ name, m }) =>
      `| ${name} | ${m.n} | ${num(m.mae)} | ${num(m.rmse)} | ${num(m.mape, 4)} | ${num(m.r2, 4)} | ${num(m.directionAccuracy, 4)} | ${num(m.rocAuc, 4)} | ${num(m.f1, 4)} | ${num(m.brier, 4)} |`,
  );
  return [head, sep, ...lines].join('\n');
}

/** `<artifacts>/reports/<run_id>.md`: command, config, metrics vs baselines, warnings, artifact paths, chart link. */
export function renderRunReport(m: RunMetrics): string {
  const reportDir = dirname(m.artifacts.report);
  const rel = (p: string) => relative(reportDir, p) || '.';
  const c = m.config;
  const rows = [{ name: `**${m.kind}** (${m.runId})`, m: m.test }, ...Object.entries(m.baselines).map(([name, bm]) => ({ name, m: bm }))];
  const verdict = m.beatsBestBaseline.rmse
    ? `The model's test RMSE (${num(m.test.rmse)}) is below the best naive baseline's (${m.bestBaseline.kind}, ${num(m.bestBaseline.rmse)}).`
    : `The model does **not** beat the best naive baseline on RMSE (${num(m.test.rmse)} vs ${m.bestBaseline.kind} ${num(m.bestBaseline.rmse)}).`;
  return `# Training run \`${m.runId}\`

Created ${m.createdAt} on the \`${m.backend.name}\` TensorFlow.js backend (${m.backend.how}${m.backend.threads === null ? '' : `, ${m.backend.threads} thread(s)`}).

## Command

\`\`\`sh
${m.command ?? '(called from code, no command line)'}
\`\`\`

## Configuration

| setting | value |
|---|---|
| model | ${c.kind}, hidden units ${c.hiddenUnits.join(',')}, dropout ${c.dropout} |
| data | ${m.source} |
| lookback / horizon | ${c.lookback} bars / ${c.horizon} bar(s) |
| features | ${m.featureNames.join(', ')} (rolling window ${c.volWindow}) |
| optimiser | Adam, learning rate ${c.learningRate}, batch size ${c.batchSize} |
| epochs | ${m.epochsRan} ran of ${m.epochsRequested} requested, best epoch ${m.bestEpoch} (val loss ${num(m.bestValLoss, 5)}), patience ${c.patience}${m.stoppedEarly ? ', stopped early' : ''} |
| seed | ${c.seed} |
| split (time-ordered) | train ${m.data.train.windows} windows ${iso(m.data.train.fromTs)} → ${iso(m.data.train.toTs)}; val ${m.data.val.windows} ${iso(m.data.val.fromTs)} → ${iso(m.data.val.toTs)}; test ${m.data.test.windows} ${iso(m.data.test.fromTs)} → ${iso(m.data.test.toTs)}; embargo ${m.data.embargo} |
| bars | ${m.data.bars} (${iso(m.data.fromTs)} → ${iso(m.data.toTs)}), ${m.data.windows} windows, ${m.data.labelled} with a target |
| warm start | ${c.initFrom ?? 'no'}${m.parentRunId ? ` (parent run ${m.parentRunId})` : ''} |

## Test metrics (same test windows for every predictor)

${metricsTable(rows)}

${verdict} Direction accuracy: model ${num(m.test.directionAccuracy, 4)} vs best baseline's ${num(m.baselines[m.bestBaseline.kind].directionAccuracy, 4)}.
Regression metrics are on the log return over the horizon; MAPE is of the implied price; classification metrics use pUp with threshold 0.5.

## Timings

Features ${(m.timings.featuresMs / 1000).toFixed(2)} s, training ${(m.timings.trainMs / 1000).toFixed(2)} s (${num(m.timings.msPerEpoch / 1000, 2)} s/epoch, ${Math.round(m.timings.trainSamplesPerSecond)} samples/s), evaluation ${(m.timings.evalMs / 1000).toFixed(2)} s, total ${(m.timings.totalMs / 1000).toFixed(2)} s.

## Warnings

${m.warnings.length ? m.warnings.map((w) => `- ${w}`).join('\n') : '- none'}

## Chart

![predicted vs actual log return on the test window, and training curves](${rel(m.artifacts.chart)})

## Artifacts

| artifact | path |
|---|---|
| best checkpoint (epoch ${m.bestEpoch}) | \`${m.artifacts.best}\` |
| last checkpoint (epoch ${m.epochsRan}) | \`${m.artifacts.last}\` |
| metrics | \`${m.artifacts.metrics}\` |
| report | \`${m.artifacts.report}\` |
| chart | \`${basename(m.artifacts.chart)}\` beside this report |
`;
}
