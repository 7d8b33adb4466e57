import type { TopLevelSpec } from 'vega-lite';
import type { SkillReport } from './report.ts';

/**
 * Vega-Lite specifications of the report's charts, data inline (nothing is fetched).
 * Horizons are ordered by minutes, not alphabetically ("15m" before "5m").
 */
export const CHART_NAMES = ['reliability', 'volatility', 'coverage'] as const;
export type ChartName = (typeof CHART_NAMES)[number];

const horizonOrder = (r: SkillReport) => r.horizons.map((h) => h.horizon);
const WIDTH = 220;
/** A quantitative channel on [0, 1] (a fresh object: Vega-Lite's types want mutable arrays). */
const unit = () => ({ type: 'quantitative' as const, scale: { domain: [0, 1] } });

/** Reliability curve per horizon: mean pUp vs observed up frequency of every non-empty bin, every series, with the diagonal. */
export function reliabilityChart(r: SkillReport): TopLevelSpec {
  const values = r.horizons.flatMap((h) =>
    h.series.flatMap((s) =>
      (s.direction?.reliability ?? []).flatMap((b) =>
        b.meanForecast === null || b.observedFrequency === null ? [] : [{ horizon: h.horizon, series: s.series, forecast: b.meanForecast, observed: b.observedFrequency, count: b.count }],
      ),
    ),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Reliability of pUp (observed up frequency vs mean forecast, 10 bins)',
    data: { values },
    facet: { column: { field: 'horizon', type: 'ordinal', sort: horizonOrder(r), title: 'horizon' } },
    spec: {
      width: WIDTH,
      height: WIDTH,
      layer: [
        {
          mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
          encoding: { x: { datum: 0, ...unit() }, y: { datum: 0, ...unit() }, x2: { datum: 1 }, y2: { datum: 1 } },
        },
        {
          mark: { type: 'line', point: true },
          encoding: {
            x: { field: 'forecast', title: 'mean forecast pUp', ...unit() },
            y: { field: 'observed', title: 'observed frequency of up', ...unit() },
            color: { field: 'series', type: 'nominal' },
            order: { field: 'forecast' },
            tooltip: [{ field: 'series' }, { field: 'count', type: 'quantitative' }],
          },
        },
      ],
    },
  };
}

/** Forecast sigma vs realised √RV per horizon on log axes, with the y = x line. */
export function volatilityChart(r: SkillReport): TopLevelSpec {
  const values = r.horizons.flatMap((h) => h.scatter.map((p) => ({ horizon: h.horizon, ...p })));
  const log = { type: 'quantitative', scale: { type: 'log' } } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Forecast vs realised volatility (log axes)',
    data: { values },
    facet: { column: { field: 'horizon', type: 'ordinal', sort: horizonOrder(r), title: 'horizon' } },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    spec: {
      width: WIDTH,
      height: WIDTH,
      layer: [
        {
          // No per-point ARIA labels: thousands of them would make the file megabytes.
          mark: { type: 'point', opacity: 0.35, size: 12, aria: false },
          encoding: {
            x: { field: 'forecastVol', title: 'forecast sigma', ...log },
            y: { field: 'realisedVol', title: 'realised √RV', ...log },
            color: { field: 'series', type: 'nominal' },
          },
        },
        {
          // The y = x line across the forecasts' range: on it, forecast equals realised.
          transform: [{ aggregate: [{ op: 'min', field: 'forecastVol', as: 'lo' }, { op: 'max', field: 'forecastVol', as: 'hi' }] }],
          mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
          encoding: { x: { field: 'lo', ...log }, y: { field: 'lo', ...log }, x2: { field: 'hi' }, y2: { field: 'hi' } },
        },
      ],
    },
  };
}

/** Coverage of the 50 % and 90 % bands by horizon and series, with 95 % intervals and the nominal levels as dashed rules. */
export function coverageChart(r: SkillReport): TopLevelSpec {
  const values = r.horizons.flatMap((h) =>
    h.series.flatMap((s) =>
      [s.quantiles?.coverage50, s.quantiles?.coverage90].flatMap((c) =>
        c?.coverage ? [{ horizon: h.horizon, series: s.series, band: `${Math.round(c.nominal * 100)} %`, coverage: c.coverage.value, lo: c.coverage.lo, hi: c.coverage.hi }] : [],
      ),
    ),
  );
  const x = { field: 'horizon', type: 'ordinal', sort: horizonOrder(r), title: 'horizon' } as const;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Band coverage by horizon (dashed: nominal 50 % and 90 %)',
    width: 360,
    height: 240,
    layer: [
      {
        data: { values: [{ band: '50 %', nominal: 0.5 }, { band: '90 %', nominal: 0.9 }] },
        mark: { type: 'rule', strokeDash: [6, 4] },
        encoding: { y: { field: 'nominal', ...unit() }, color: { field: 'band', type: 'nominal' } },
      },
      {
        data: { values },
        mark: { type: 'rule' },
        encoding: { x, xOffset: { field: 'series', type: 'nominal' }, y: { field: 'lo', ...unit() }, y2: { field: 'hi' }, color: { field: 'band', type: 'nominal' } },
      },
      {
        data: { values },
        mark: { type: 'point', filled: true },
        encoding: {
          x,
          xOffset: { field: 'series', type: 'nominal' },
          y: { field: 'coverage', title: 'fraction of outcomes inside the band', ...unit() },
          color: { field: 'band', type: 'nominal', title: 'band' },
          shape: { field: 'series', type: 'nominal' },
        },
      },
    ],
  };
}

/** Every chart of the report, by file stem. */
export function skillCharts(r: SkillReport): Record<ChartName, TopLevelSpec> {
  return { reliability: reliabilityChart(r), volatility: volatilityChart(r), coverage: coverageChart(r) };
}
