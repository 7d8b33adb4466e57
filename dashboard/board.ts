import type { KnownSymbol } from '../sql/index.ts';

/** What the symbol list shows of one symbol. */
export type BoardRow = {
  venue: string;
  symbol: string;
  quality: 'healthy' | 'degraded' | 'quarantined' | 'unknown';
  prediction: 'warming_up' | 'ready' | 'unknown';
  bars: number;
  barsNeeded: number;
  regime: string | null;
  gaps: { found: number; filled: number; unfillable: number };
  lastBarTs: number | null;
  /** Open time of the bar the last prediction was made after, and when it was published (epoch ms). */
  lastPredictionTs: number | null;
  lastPredictionAt: number | null;
  /** The versions serving it, per role (its own `model_active` key, else `default`). */
  versions: { pretrained: Record<string, string>; online: string | null; key: string | null; rollout: RowRollout | null };
};

/** A challenger being rolled out where this symbol is served, and whether this symbol is in its canary. */
export type RowRollout = { stage: 'shadow' | 'canary'; role: string; version: string; champion: string; servesThisSymbol: boolean; since: number };

/** A row of `signals.symbols` (actors/system/symbol-rows.ts), read defensively: it comes over the wire. */
export type ServiceSymbolRow = Pick<BoardRow, 'venue' | 'symbol' | 'quality' | 'prediction' | 'bars' | 'barsNeeded' | 'regime' | 'gaps' | 'lastBarTs'>;

type Active = {
  pretrained: Record<string, string>;
  online?: string | undefined;
  rollout?: { stage: 'shadow' | 'canary'; role: string; version: string; champion: string; canary: string[]; stageAt: number } | undefined;
};

/**
 * The symbol list: one row per symbol, from the database on load, the system's
 * `signals.symbols` answers, the `model_active` bucket and the live subjects.
 * Bounded by the number of symbols.
 */
export class SymbolBoard {
  private readonly rows = new Map<string, BoardRow>();
  private readonly active = new Map<string, Active>();

  private row(venue: string, symbol: string): BoardRow {
    const key = `${venue}.${symbol}`;
    let r = this.rows.get(key);
    if (!r) {
      r = {
        venue, symbol, quality: 'unknown', prediction: 'unknown', bars: 0, barsNeeded: 0, regime: null,
        gaps: { found: 0, filled: 0, unfillable: 0 }, lastBarTs: null, lastPredictionTs: null, lastPredictionAt: null,
        versions: { pretrained: {}, online: null, key: null, rollout: null },
      };
      this.rows.set(key, r);
    }
    return r;
  }

  has(key: string): boolean {
    return this.rows.has(key);
  }

  loadKnown(known: readonly KnownSymbol[]): void {
    for (const k of known) {
      const r = this.row(k.venue, k.symbol);
      r.lastBarTs = Math.max(r.lastBarTs ?? 0, k.lastBarTs);
      if (k.lastPredictionTs !== null && (r.lastPredictionTs ?? 0) < k.lastPredictionTs) {
        r.lastPredictionTs = k.lastPredictionTs;
        r.lastPredictionAt = k.lastPredictionAt;
      }
    }
  }

  applyService(rows: readonly ServiceSymbolRow[]): void {
    for (const s of rows) {
      const r = this.row(s.venue, s.symbol);
      r.quality = s.quality;
      r.prediction = s.prediction;
      r.bars = s.bars;
      r.barsNeeded = s.barsNeeded;
      r.regime = s.regime;
      r.gaps = s.gaps;
      if (s.lastBarTs !== null) r.lastBarTs = Math.max(r.lastBarTs ?? 0, s.lastBarTs);
    }
  }

  setQuality(venue: string, symbol: string, state: BoardRow['quality']): void {
    this.row(venue, symbol).quality = state;
  }

  bar(venue: string, symbol: string, ts: number): void {
    const r = this.row(venue, symbol);
    r.lastBarTs = Math.max(r.lastBarTs ?? 0, ts);
  }

  prediction(venue: string, symbol: string, ts: number, at: number): void {
    const r = this.row(venue, symbol);
    if ((r.lastPredictionTs ?? 0) <= ts) {
      r.lastPredictionTs = ts;
      r.lastPredictionAt = at;
    }
    if (r.prediction === 'unknown') r.prediction = 'ready';
  }

  /** A prediction of the symbol went by (not decoded: nobody shows the symbol). */
  predictionSeen(venue: string, symbol: string, at: number): void {
    const r = this.row(venue, symbol);
    r.lastPredictionAt = Math.max(r.lastPredictionAt ?? 0, at);
    if (r.prediction === 'unknown') r.prediction = 'ready';
  }

  /** A `model_active` key changed (`undefined` = deleted). */
  setActive(key: string, value: Active | undefined): void {
    if (value) this.active.set(key, value);
    else this.active.delete(key);
  }

  activeKeys(): Record<string, Active> {
    return Object.fromEntries(this.active);
  }

  list(): BoardRow[] {
    const out: BoardRow[] = [];
    for (const r of this.rows.values()) {
      const key = `${r.venue}.${r.symbol}`;
      const own = this.active.get(key);
      const dflt = this.active.get('default');
      // A symbol's own key may name only some roles (an online model of its own): the rest come from `default`.
      const a = own || dflt ? { pretrained: own && Object.keys(own.pretrained).length > 0 ? own.pretrained : (dflt?.pretrained ?? {}), online: own?.online ?? dflt?.online } : undefined;
      // A rollout lives on the scope's key: the symbol's own, else the global one under `default`.
      const ro = own?.rollout ?? this.active.get('default')?.rollout;
      const rollout: RowRollout | null = ro
        ? { stage: ro.stage, role: ro.role, version: ro.version, champion: ro.champion, servesThisSymbol: ro.stage === 'canary' && ro.canary.includes(key), since: ro.stageAt }
        : null;
      r.versions = { pretrained: a?.pretrained ?? {}, online: a?.online ?? null, key: own ? key : dflt ? 'default' : null, rollout };
      out.push(r);
    }
    return out.sort((a, b) => a.venue.localeCompare(b.venue) || a.symbol.localeCompare(b.symbol));
  }
}
