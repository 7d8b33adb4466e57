/** A line series of a chart panel. */
export type ChartSeries = { name: string; color: string; values: readonly number[] };
export type ChartPanel = { title: string; xLabel: string; series: ChartSeries[] };

const W = 900;
const PANEL_H = 260;
const PAD = { left: 70, right: 20, top: 34, bottom: 40 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1000 || a < 0.01 ? v.toExponential(1) : v.toPrecision(3);
}

function panelSvg(panel: ChartPanel, top: number): string {
  const finite = panel.series.flatMap((s) => s.values.filter((v) => Number.isFinite(v)));
  const n = Math.max(0, ...panel.series.map((s) => s.values.length));
  let lo = finite.length ? Math.min(...finite) : 0;
  let hi = finite.length ? Math.max(...finite) : 1;
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const x0 = PAD.left;
  const x1 = W - PAD.right;
  const y0 = top + PAD.top;
  const y1 = top + PANEL_H - PAD.bottom;
  const sx = (i: number) => x0 + (n > 1 ? (i / (n - 1)) * (x1 - x0) : 0);
  const sy = (v: number) => y1 - ((v - lo) / (hi - lo)) * (y1 - y0);
  const parts: string[] = [];
  parts.push(`<text x="${x0}" y="${top + 20}" font-size="14" font-weight="bold">${esc(panel.title)}</text>`);
  parts.push(`<rect x="${x0}" y="${y0}" width="${x1 - x0}" height="${y1 - y0}" fill="none" stroke="#bbb"/>`);
  for (let k = 0; k <= 4; k += 1) {
    const v = lo + ((hi - lo) * k) / 4;
    const y = sy(v).toFixed(1);
    parts.push(`<line x1="${x0}" x2="${x1}" y1="${y}" y2="${y}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${y}" font-size="10" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  if (lo < 0 && hi > 0) parts.push(`<line x1="${x0}" x2="${x1}" y1="${sy(0).toFixed(1)}" y2="${sy(0).toFixed(1)}" stroke="#888" stroke-dasharray="3,3"/>`);
  parts.push(`<text x="${(x0 + x1) / 2}" y="${y1 + 28}" font-size="11" text-anchor="middle">${esc(panel.xLabel)}</text>`);
  panel.series.forEach((s, si) => {
    const pts: string[] = [];
    s.values.forEach((v, i) => {
      if (Number.isFinite(v)) pts.push(`${sx(i).toFixed(1)},${sy(v).toFixed(1)}`);
    });
    if (pts.length === 1) {
      const [cx, cy] = (pts[0] ?? '0,0').split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
    } else {
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="1.2" points="${pts.join(' ')}"/>`);
    }
    const lx = x1 - 170;
    const ly = top + 14 + si * 14;
    parts.push(`<line x1="${lx}" x2="${lx + 18}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 24}" y="${ly}" font-size="11" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  return parts.join('\n');
}

/** A standalone SVG document with the panels stacked vertically (hand-written, no chart library). */
export function renderChartSvg(panels: readonly ChartPanel[]): string {
  const h = PANEL_H * panels.length;
  const body = panels.map((p, i) => panelSvg(p, i * PANEL_H)).join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${h}" viewBox="0 0 ${W} ${h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`;
}
