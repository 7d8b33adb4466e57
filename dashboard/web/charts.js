// The page's charts, drawn by lightweight-charts (served from node_modules as the
// global LightweightCharts). Times on the charts are UTC seconds.

const LW = globalThis.LightweightCharts;
const sec = (ms) => Math.floor(ms / 1000);

export const PALETTE = ['#4cc9f0', '#f72585', '#b5e48c', '#ffd166', '#9d4edd', '#ff8c42', '#06d6a0', '#e0e0e0'];
const ROLE_COLORS = { blend: '#ffffff', naive: '#8d99ae', ewma: '#ffd166', har: '#06d6a0', pretrained: '#4cc9f0', online: '#f72585', shadow: '#ff8c42' };

export function colorFor(label, i) {
  const role = label.split(' ')[0];
  return ROLE_COLORS[role] ?? PALETTE[i % PALETTE.length];
}

const base = {
  autoSize: true,
  layout: { background: { color: '#11151c' }, textColor: '#c9d1d9', fontSize: 11 },
  grid: { vertLines: { color: '#1c2230' }, horzLines: { color: '#1c2230' } },
  timeScale: { timeVisible: true, secondsVisible: false, borderColor: '#2a3242' },
  rightPriceScale: { borderColor: '#2a3242' },
  crosshair: { mode: 0 },
};

/** Candles with the 1-minute 90 % band of every prediction and, ahead of the last bar, the fan of every horizon. */
export function priceChart(el) {
  const chart = LW.createChart(el, base);
  const candles = chart.addSeries(LW.CandlestickSeries, { upColor: '#26a69a', downColor: '#ef5350', wickUpColor: '#26a69a', wickDownColor: '#ef5350', borderVisible: false });
  const line = (color, style, width = 1) => chart.addSeries(LW.LineSeries, { color, lineWidth: width, lineStyle: style, priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false });
  const band = { lo: line('rgba(76,201,240,0.45)', 0), hi: line('rgba(76,201,240,0.45)', 0) };
  const fan = { q05: line('#ffd166', 2), q25: line('#ff8c42', 2, 2), q50: line('#ffffff', 1, 2), q75: line('#ff8c42', 2, 2), q95: line('#ffd166', 2) };
  const markers = LW.createSeriesMarkers(candles, []);
  let fitted = false;
  return {
    /** bars: [{ts, open, high, low, close}]; bandPoints: [{ts, lo, hi}] (prices); fanPoints: {q05: [{ts, price}], ...}. */
    set(bars, bandPoints, fanPoints, markerList) {
      candles.setData(bars.map((b) => ({ time: sec(b.ts), open: b.open, high: b.high, low: b.low, close: b.close })));
      band.lo.setData(bandPoints.map((p) => ({ time: sec(p.ts), value: p.lo })));
      band.hi.setData(bandPoints.map((p) => ({ time: sec(p.ts), value: p.hi })));
      for (const [k, s] of Object.entries(fan)) s.setData((fanPoints[k] ?? []).map((p) => ({ time: sec(p.ts), value: p.price })));
      markers.setMarkers(markerList.map((m) => ({ ...m, time: sec(m.ts) })));
      if (!fitted && bars.length > 0) {
        // The last few hours at a readable spacing, the fan ahead of them; scroll back for the rest.
        chart.timeScale().applyOptions({ barSpacing: 5 });
        chart.timeScale().scrollToRealTime();
        fitted = true;
      }
    },
    reset() {
      fitted = false;
    },
    remove: () => chart.remove(),
  };
}

/** Lines keyed by label, created on first use (pUp, volatility, weights, scores). */
export function linesChart(el, opts = {}) {
  const chart = LW.createChart(el, { ...base, rightPriceScale: { ...base.rightPriceScale, ...(opts.scale ?? {}) } });
  const series = new Map();
  const format = opts.format ? { type: 'custom', formatter: opts.format, minMove: 1e-6 } : undefined;
  const get = (label) => {
    let s = series.get(label);
    if (!s) {
      s = chart.addSeries(LW.LineSeries, { color: colorFor(label, series.size), lineWidth: label === 'blend' ? 2 : 1, priceLineVisible: false, title: label, ...(format ? { priceFormat: format } : {}) });
      series.set(label, s);
    }
    return s;
  };
  return {
    /** data: { label: [{ts, value}] }; labels not in data are cleared. */
    set(data) {
      for (const [label, points] of Object.entries(data)) get(label).setData(points.map((p) => ({ time: sec(p.ts), value: p.value })));
      for (const [label, s] of series) if (!(label in data)) s.setData([]);
      // These panels are overviews of the window the page holds: always all of it.
      if (Object.values(data).some((p) => p.length > 0)) chart.timeScale().fitContent();
    },
    reset() {},
    labels: () => [...series.keys()],
  };
}
