import { skillReport, writeSkillReport, type SkillReport } from '../../models/index.ts';
import type { Db } from '../../sql/index.ts';
import { runOutcomes } from './run-outcomes.ts';

export type RunSkill = { report: SkillReport; files: string[] } | undefined;

/**
 * The skill report of a run: every horizon of the predictions it stored, scored
 * against the bars that followed exactly as `signals evaluate` scores a file,
 * written (metrics.json and charts) to `dir`. Undefined when nothing realised.
 */
export async function runSkill(db: Db, venue: string | undefined, sinceMs: number, dir: string): Promise<RunSkill> {
  const outcomes = await runOutcomes(db, venue, sinceMs);
  if (outcomes.length === 0) return undefined;
  const report = skillReport(outcomes, { bootstrap: { resamples: 300 } });
  return { report, files: await writeSkillReport(dir, report) };
}
