import { join } from 'node:path';
import { writeFileAtomic } from '../atomic-write.ts';
import { CHART_NAMES, skillCharts } from './charts.ts';
import type { SkillReport } from './report.ts';
import { renderSvg } from './svg.ts';

/**
 * Writes `metrics.json` (the report) and one SVG per chart (`reliability.svg`,
 * `volatility.svg`, `coverage.svg`) into dir, each atomically; returns their paths,
 * metrics.json first, then the charts in `CHART_NAMES` order.
 */
export async function writeSkillReport(dir: string, report: SkillReport): Promise<string[]> {
  const metrics = join(dir, 'metrics.json');
  await writeFileAtomic(metrics, `${JSON.stringify(report, null, 2)}\n`);
  const specs = skillCharts(report);
  const paths = [metrics];
  for (const name of CHART_NAMES) {
    const path = join(dir, `${name}.svg`);
    await writeFileAtomic(path, await renderSvg(specs[name]));
    paths.push(path);
  }
  return paths;
}
