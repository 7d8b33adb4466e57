import type { ForecastMetrics } from './metrics.ts';
import type { WalkForwardResult } from './walk-forward.ts';

const iso = (ts: number) => new Date(ts).toISOString().slice(0, 16).replace('T', ' ');

function cell(v: number | null, kind: 'small' | 'ratio'): string {
  if (v === null || !Number.isFinite(v)) return 'n/a';
  return kind === 'small' ? v.toExponential(4) : v.toFixed(4);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function metricRow(name: string, m: ForecastMetrics | undefined): string[] {
  if (!m) return [name];
  return [
    name,
    String(m.n),
    cell(m.mae, 'small'),
    cell(m.rmse, 'small'),
    cell(m.r2, 'ratio'),
    cell(m.directionAccuracy, 'ratio'),
    cell(m.rocAuc, 'ratio'),
    cell(m.f1, 'ratio'),
    cell(m.brier, 'ratio'),
  ];
}

const HEADER = ['predictor', 'n', 'MAE', 'RMSE', 'R2', 'dir.acc', 'ROC AUC', 'F1', 'Brier'];

/** The walk-forward result as plain-text tables: per fold, pooled, and model-vs-best-baseline intervals. */
export function formatWalkForward(r: WalkForwardResult): string {
  const names = Object.keys(r.overall);
  const out: string[] = [];
  for (const f of r.folds) {
    out.push(
      `fold ${f.fold}: train ${f.train.windows} windows ${iso(f.train.fromTs)} .. ${iso(f.train.toTs)}, test ${f.test.windows} windows ${iso(f.test.fromTs)} .. ${iso(f.test.toTs)} (${(f.ms / 1000).toFixed(1)} s; epochs ${Object.entries(f.epochsRan)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')})`,
    );
    out.push(table(HEADER, names.map((n) => metricRow(n, f.metrics[n]))));
    out.push('');
  }
  out.push(`all ${r.folds.length} folds pooled:`);
  out.push(table(HEADER, names.map((n) => metricRow(n, r.overall[n]))));
  out.push('');
  out.push(`model minus best baseline (moving-block bootstrap, ${r.config.bootstrap} resamples, block ${r.blockLength} windows, 95 % interval):`);
  out.push(
    table(
      ['model', 'vs baseline', 'metric', 'difference', '95% low', '95% high', 'interval excludes 0'],
      r.comparisons.map((c) => [
        c.model,
        c.baseline,
        c.metric,
        c.metric === 'rmse' ? c.diff.toExponential(3) : c.diff.toFixed(4),
        c.metric === 'rmse' ? c.ci[0].toExponential(3) : c.ci[0].toFixed(4),
        c.metric === 'rmse' ? c.ci[1].toExponential(3) : c.ci[1].toFixed(4),
        c.better ? 'yes: model better' : c.worse ? 'yes: baseline better' : 'no',
      ]),
    ),
  );
  out.push('');
  out.push(`verdict: ${r.verdict}`);
  return out.join('\n');
}
