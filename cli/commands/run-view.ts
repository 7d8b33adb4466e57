import type { SystemStatus } from '../../actors/system.service.ts';

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The live terminal view of `signals run`. */
export function renderPanel(v: { status: SystemStatus; ticksPerSecond: number; elapsedMs: number; source: string; published: number | undefined }): string {
  const { sync, predictor } = v.status;
  const rows: [string, string][] = [
    ['phase', 'live ingest + baseline prediction'],
    ['source', v.source],
    ['marketSync', `${sync.state}${sync.lastError ? ` (${sync.lastError})` : ''}`],
    ['ticks/s', fmt(v.ticksPerSecond)],
    ['ticks stored', `${fmt(sync.stats.stored)} (${fmt(sync.stats.duplicates)} duplicates, ${fmt(sync.stats.invalid)} dead-lettered)`],
    ['bars published', `${fmt(sync.stats.barsPublished)} (${fmt(sync.stats.lateBars)} corrected by late ticks)`],
    ['consumer pending', fmt(sync.stats.pending)],
    ['predictions', fmt(predictor.predictions)],
    ['elapsed', `${(v.elapsedMs / 1000).toFixed(0)} s`],
  ];
  if (v.published !== undefined) rows.splice(2, 0, ['replay', `${fmt(v.published)} ticks published`]);
  const w = Math.max(...rows.map((r) => r[0].length));
  return ['signals run   (Ctrl-C to stop)', '', ...rows.map(([k, val]) => `  ${k.padEnd(w)}  ${val}`)].join('\n');
}

/** The table printed by `--exit-after-replay`. */
export function renderSummary(s: SystemStatus, v: { source: string; published: number; seconds: number }): string {
  const rows: [string, string][] = [
    ['source', v.source],
    ['ticks published', fmt(v.published)],
    ['ticks stored', fmt(s.sync.stats.stored)],
    ['duplicates ignored', fmt(s.sync.stats.duplicates)],
    ['dead-lettered', fmt(s.sync.stats.invalid)],
    ['bars closed', fmt(s.sync.stats.barsPublished)],
    ['late-tick corrections', fmt(s.sync.stats.lateBars)],
    ['predictions', fmt(s.predictor.predictions)],
    ['wall time', `${v.seconds.toFixed(1)} s`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(Math.max(...rows.map((r) => r[1].length)) + 2)}+`;
  const vw = line.length - w - 7;
  return ['summary', line, ...rows.map(([k, val]) => `| ${k.padEnd(w)} | ${val.padEnd(vw)} |`), line].join('\n');
}
