import { join } from 'node:path';
import { skillReport, writeSkillReport, type SkillReport } from '../../models/index.ts';
import type { Db } from '../../sql/index.ts';
import { runOutcomes } from './run-outcomes.ts';

/** One symbol's skill report and the files written for it. */
export type SymbolSkill = { venue: string; symbol: string; report: SkillReport; files: string[] };
/** Per symbol, in (venue, symbol) order; empty when nothing realised. */
export type RunSkill = SymbolSkill[];

/**
 * The skill reports of a run, one per symbol: every horizon of the predictions
 * it stored, scored against the bars that followed exactly as `signals evaluate`
 * scores a file, written (metrics.json and charts) to `<dir>/<venue>.<symbol>/`.
 */
export async function runSkill(db: Db, venue: string | undefined, sinceMs: number, dir: string): Promise<RunSkill> {
  const out: RunSkill = [];
  for (const s of await runOutcomes(db, venue, sinceMs)) {
    const report = skillReport(s.outcomes, { bootstrap: { resamples: 300 } });
    out.push({ venue: s.venue, symbol: s.symbol, report, files: await writeSkillReport(join(dir, `${s.venue}.${s.symbol}`), report) });
  }
  return out;
}
