import type { Children } from './phase-supervisor.effects.ts';

/** One symbol as this process sees it: data quality, gaps and the predictor's warm-up. */
export type SymbolRow = {
  venue: string;
  symbol: string;
  quality: 'healthy' | 'degraded' | 'quarantined' | 'unknown';
  gaps: { found: number; filled: number; unfillable: number };
  lastBarTs: number | null;
  /** `warming_up` until the predictor has the bars it needs, then `ready`; `unknown` before the predictor has seen it. */
  prediction: 'warming_up' | 'ready' | 'unknown';
  bars: number;
  barsNeeded: number;
  regime: string | null;
};

/** What `signals.symbols` answers: every symbol known to the quality supervisor or the predictor of this process. */
export function symbolRows(children: Pick<Children, 'quality' | 'predictor'>): SymbolRow[] {
  const rows = new Map<string, SymbolRow>();
  const row = (venue: string, symbol: string): SymbolRow => {
    const key = `${venue}.${symbol}`;
    let r = rows.get(key);
    if (!r) {
      r = { venue, symbol, quality: 'unknown', gaps: { found: 0, filled: 0, unfillable: 0 }, lastBarTs: null, prediction: 'unknown', bars: 0, barsNeeded: 0, regime: null };
      rows.set(key, r);
    }
    return r;
  };
  for (const q of children.quality?.status() ?? []) {
    const r = row(q.venue, q.symbol);
    r.quality = q.quality;
    r.gaps = { found: q.gaps.found, filled: q.gaps.filled, unfillable: q.gaps.unfillable };
    r.lastBarTs = q.lastBarTs ?? null;
  }
  for (const p of children.predictor?.statuses() ?? []) {
    const r = row(p.venue, p.symbol);
    r.prediction = p.state;
    r.bars = p.bars;
    r.barsNeeded = p.barsNeeded;
    r.regime = p.regime;
  }
  return [...rows.values()].sort((a, b) => a.venue.localeCompare(b.venue) || a.symbol.localeCompare(b.symbol));
}
