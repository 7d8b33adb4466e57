import type { SystemStatus } from '../../actors/system/index.ts';
import type { PredictionAccuracy } from '../../sql/index.ts';
import type { RunSkill } from './run-skill.ts';

const fmt = (n: number | undefined): string => (n === undefined ? '-' : Math.round(n).toLocaleString('en-US'));
const pct = (x: number | null): string => (x === null ? '-' : `${(x * 100).toFixed(1)} %`);

function table(rows: [string, string][]): string[] {
  const w = Math.max(...rows.map((r) => r[0].length));
  const vw = Math.max(...rows.map((r) => r[1].length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(vw + 2)}+`;
  return [line, ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v.padEnd(vw)} |`), line];
}

/** The live terminal view of `signals run`. */
export function renderPanel(v: { status: SystemStatus; ticksPerSecond: number; elapsedMs: number; source: string; published: number | undefined; recent: string[]; dashboard?: string }): string {
  const { sync, predictor, lifecycle, children } = v.status;
  const restarts = Object.entries(children).filter(([, c]) => c.restarts > 0 || c.state === 'failed');
  const rows: [string, string][] = [
    ['phase', v.status.phase + (v.status.lastError ? `  (last error: ${v.status.lastError})` : '')],
    ['phase 1', v.status.phase1 ?? 'running'],
    ['dashboard', v.dashboard ?? 'off'],
    ['source', v.source],
    ['replay', v.published === undefined ? '-' : `${fmt(v.published)} ticks published`],
    ['marketSync', `${sync.state}${sync.lastError ? ` (${sync.lastError})` : ''}`],
    ['ticks/s', fmt(v.ticksPerSecond)],
    ['ticks stored', `${fmt(sync.stats?.stored)} (${fmt(sync.stats?.duplicates)} duplicates, ${fmt(sync.stats?.invalid)} dead-lettered)`],
    ['bars closed', `${fmt(sync.stats?.barsPublished)} (${fmt(sync.stats?.lateBars)} corrected by late ticks)`],
    ['consumer pending', fmt(sync.stats?.pending)],
    ['data quality', `${v.status.quality.healthy} healthy, ${v.status.quality.degraded} degraded, ${v.status.quality.quarantined} quarantined`],
    ['gaps', `${v.status.quality.gapsFound} found, ${v.status.quality.gapsFilled} filled, ${v.status.quality.gapsUnfillable} unfillable`],
    ['predictor', `${predictor.state}: ${predictor.ready} symbols predicting, ${predictor.warmingUp} warming up`],
    ['predictions', `${fmt(predictor.stats?.predictions)} (${fmt(predictor.stats?.withheld)} withheld for data quality)`],
    ['lifecycle', `${lifecycle.state}: ${fmt(lifecycle.stats?.deployed)} deployed, ${fmt(lifecycle.stats?.rollbacks)} rolled back`],
    ['active models', v.status.versions.join(', ') || '-'],
    ['restarts', restarts.length === 0 ? 'none' : restarts.map(([n, c]) => `${n} ${c.restarts}x (${c.state})`).join(', ')],
    ['elapsed', `${(v.elapsedMs / 1000).toFixed(0)} s`],
  ];
  return ['signals run   (Ctrl-C to stop)', ...table(rows), '', 'last predictions:', ...(v.recent.length ? v.recent : ['  (none yet)'])].join('\n');
}

/** The table printed by `--exit-after-replay`. */
export function renderSummary(
  s: SystemStatus,
  v: {
    source: string;
    published: number;
    seconds: number;
    accuracy: PredictionAccuracy;
    versions: { deployed: number; rejected: number; rolledBack: number };
    skill?: RunSkill;
  },
): string {
  const a = v.accuracy;
  const rows: [string, string][] = [
    ['source', v.source],
    ['phase 1', s.phase1 ?? '-'],
    ['ticks published', fmt(v.published)],
    ['ticks stored', fmt(s.sync.stats?.stored)],
    ['duplicates ignored', fmt(s.sync.stats?.duplicates)],
    ['dead-lettered', fmt(s.sync.stats?.invalid)],
    ['bars closed', fmt(s.sync.stats?.barsPublished)],
    ['late-tick corrections', fmt(s.sync.stats?.lateBars)],
    ['gaps found / filled', `${s.quality.gapsFound} / ${s.quality.gapsFilled} (${s.quality.gapsUnfillable} unfillable)`],
    ['predictions', fmt(s.predictor.stats?.predictions)],
    ['versions deployed', fmt(v.versions.deployed)],
    ['versions rejected', fmt(v.versions.rejected)],
    ['versions rolled back', fmt(v.versions.rolledBack)],
    ['direction accuracy', `${pct(a.directionAccuracy)} over ${fmt(a.scored)} scored predictions`],
    ['MAE vs naive (zero)', a.mae === null || a.naiveMae === null ? '-' : `${a.mae.toExponential(3)} vs ${a.naiveMae.toExponential(3)} (${a.mae <= a.naiveMae ? 'better' : 'worse'} than naive)`],
    ['wall time', `${v.seconds.toFixed(1)} s`],
  ];
  const skill = v.skill && v.skill.length > 0
    ? v.skill.flatMap((k) => [
        '',
        `forecast skill per horizon, ${k.venue}.${k.symbol} (${k.report.n} realised outcomes; report: ${k.files[0] ?? '-'}):`,
        ...k.report.verdicts.map((x) => `  ${x.text}`),
      ])
    : ['', 'forecast skill: no horizon realised yet'];
  return ['summary', ...table(rows), ...skill].join('\n');
}
