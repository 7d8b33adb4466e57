import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { coverageChart, renderSvg, skillReport, writeSkillReport } from '../../../../models/skill/index.ts';
import { syntheticOutcomes } from './synthetic-outcomes.ts';

const report = skillReport(syntheticOutcomes(300), { bootstrap: { resamples: 50 } });
const dir = mkdtempSync(join(tmpdir(), 'skill-charts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Tags open and close in order: the document is well-formed XML as far as elements go. */
function wellFormed(svg: string): boolean {
  const stack: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:-]*)[^>]*?(\/?)>/g)) {
    const [, closing, name = '', selfClosing] = m;
    if (selfClosing) continue;
    if (!closing) stack.push(name);
    else if (stack.pop() !== name) return false;
  }
  return stack.length === 0;
}

const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);

describe('skill report files', () => {
  it('writes metrics.json and three SVG charts with their marks and labels', async () => {
    const files = await writeSkillReport(dir, report);
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['metrics.json', 'reliability.svg', 'volatility.svg', 'coverage.svg']);
    expect(JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'))).toEqual(report);
    for (const f of files.slice(1)) {
      const svg = readFileSync(f, 'utf8');
      expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), f).toBe(true);
      expect(wellFormed(svg), `${f} is well-formed`).toBe(true);
    }
    const reliability = readFileSync(join(dir, 'reliability.svg'), 'utf8');
    expect(texts(reliability)).toEqual(expect.arrayContaining(['Reliability of pUp (observed up frequency vs mean forecast, 10 bins)', '1m', '5m', '15m', '60m', 'mean forecast pUp', 'blend', 'har']));
    expect(reliability, 'the curves').toContain('mark-line');
    expect(reliability, 'the diagonal').toContain('mark-rule');
    const volatility = readFileSync(join(dir, 'volatility.svg'), 'utf8');
    expect(texts(volatility)).toEqual(expect.arrayContaining(['Forecast vs realised volatility (log axes)', 'forecast sigma', 'realised √RV', 'blend', 'har']));
    expect(volatility.match(/<path[^>]*transform="translate\([^)]*\)" d="M/g)?.length ?? 0, 'hundreds of scatter points').toBeGreaterThan(500);
    const coverage = readFileSync(join(dir, 'coverage.svg'), 'utf8');
    expect(texts(coverage)).toEqual(expect.arrayContaining(['Band coverage by horizon (dashed: nominal 50 % and 90 %)', '50 %', '90 %', '1m', '60m']));
    expect(coverage).toContain('stroke-dasharray="6,4"');
  });

  it('renders an empty chart rather than failing when no series has the target', async () => {
    const empty = skillReport([{ ts: 0, horizon: '1m', minutes: 1, realisedReturn: 0.1, realisedVariance: 0.01, forecasts: { naive: { sigma: 0.1 } } }], { bootstrap: { resamples: 5 } });
    const svg = await renderSvg(coverageChart(empty));
    expect(wellFormed(svg)).toBe(true);
    expect(texts(svg)).toContain('Band coverage by horizon (dashed: nominal 50 % and 90 %)');
  });
});
