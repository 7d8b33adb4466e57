import { mixSeed, mulberry32, type Prng } from './prng.ts';
import type { BarRow } from './types.ts';

/**
 * The seeded synthetic market: 1-minute bars for N symbols, the project's own
 * default data (the real files in ../shared/data must not be redistributed).
 *
 * Per symbol, each minute:
 * - a regime from a Markov chain (`calm`, `trending_up`, `trending_down`,
 *   `volatile`), persistent (about 8 hours on average) and setting drift and a
 *   volatility multiplier;
 * - GARCH(1,1) variance `h = ω + α·ε² + β·h` (volatility clusters), scaled by the
 *   regime;
 * - a shock that mixes a market-wide factor (shared by all symbols, so returns are
 *   correlated) with the symbol's own noise, and a weak pull of the log price back
 *   to its start so long runs stay in a sane range;
 * - close = open · exp(return) with open = previous close, high/low beyond
 *   max/min(open, close) by a half-normal excursion scaled by the minute's
 *   volatility, volume growing with volatility (and noise).
 * Prices are rounded to 7 significant digits, volumes to 3 decimals; every bar
 * satisfies the bar invariants. Deterministic: the same options give the same
 * bars; symbol i's series depends only on (seed, i), not on how many symbols run.
 */
export const REGIMES = ['calm', 'trending_up', 'trending_down', 'volatile'] as const;
export type Regime = (typeof REGIMES)[number];

/** Default first bar time, fixed so that output is reproducible. */
export const SYNTH_DEFAULT_START = Date.UTC(2024, 0, 1);
export const MAX_SYNTH_SYMBOLS = 10_000;

export type SynthOptions = {
  /** Number of symbols, named by `synthSymbol(i)`. */
  symbols: number;
  /** Number of 1-minute bars per symbol. */
  minutes: number;
  /** Any non-negative safe integer. */
  seed: number;
  /** Open time of the first bar, epoch ms, a whole minute. Default SYNTH_DEFAULT_START. */
  start?: number;
};

/** A synthetic bar: always has its symbol, and the regime it was drawn in (not written to CSV). */
export type SynthBar = BarRow & { symbol: string; regime: Regime };

const MINUTE_MS = 60_000;
const REGIME_DRIFT: Record<Regime, number> = { calm: 0, trending_up: 8e-5, trending_down: -9e-5, volatile: 0 };
const REGIME_VOL: Record<Regime, number> = { calm: 0.6, trending_up: 1, trending_down: 1.2, volatile: 2.5 };
const STAY = 0.998;
const GARCH_ALPHA = 0.08;
const GARCH_BETA = 0.9;
const REVERSION_PER_MIN = 1 / (7 * 1440);

/** `SYN000`, `SYN001`, ... (at least three digits). */
export function synthSymbol(index: number): string {
  return `SYN${String(index).padStart(3, '0')}`;
}

/** Throws RangeError for options the generator cannot honour. */
export function checkSynthOptions(opts: SynthOptions): void {
  if (!Number.isSafeInteger(opts.symbols) || opts.symbols < 1 || opts.symbols > MAX_SYNTH_SYMBOLS) {
    throw new RangeError(`symbols must be an integer in 1..${MAX_SYNTH_SYMBOLS} (got ${opts.symbols})`);
  }
  if (!Number.isSafeInteger(opts.minutes) || opts.minutes < 0) {
    throw new RangeError(`minutes must be an integer >= 0 (got ${opts.minutes})`);
  }
  if (!Number.isSafeInteger(opts.seed) || opts.seed < 0) {
    throw new RangeError(`seed must be a non-negative safe integer (got ${opts.seed})`);
  }
  const start = opts.start ?? SYNTH_DEFAULT_START;
  if (!Number.isSafeInteger(start) || start % MINUTE_MS !== 0) {
    throw new RangeError(`start must be epoch milliseconds on a whole minute (got ${start})`);
  }
}

function roundPrice(p: number): number {
  return Number(p.toPrecision(7));
}

type SymbolState = {
  symbol: string;
  rng: Prng;
  anchor: number; // log of the start price
  close: number;
  baseVar: number; // unconditional per-minute variance
  h: number; // GARCH variance
  lastShock: number;
  beta: number; // correlation with the market factor
  baseVolume: number;
  regime: Regime;
};

function initSymbol(root: number, index: number): SymbolState {
  const rng = mulberry32(mixSeed(root, index + 1));
  const price = roundPrice(Math.exp(rng.uniform(Math.log(20), Math.log(500))));
  const vol = rng.uniform(0.0005, 0.0015);
  return {
    symbol: synthSymbol(index),
    rng,
    anchor: Math.log(price),
    close: price,
    baseVar: vol * vol,
    h: vol * vol,
    lastShock: 0,
    beta: rng.uniform(0.2, 0.7),
    baseVolume: Math.exp(rng.uniform(Math.log(5), Math.log(500))),
    regime: REGIMES[Math.floor(rng.next() * REGIMES.length)] ?? 'calm',
  };
}

function nextRegime(s: SymbolState): Regime {
  if (s.rng.next() < STAY) return s.regime;
  const others = REGIMES.filter((r) => r !== s.regime);
  return others[Math.floor(s.rng.next() * others.length)] ?? s.regime;
}

function step(s: SymbolState, ts: number, marketZ: number): SynthBar {
  const { rng } = s;
  s.regime = nextRegime(s);
  s.h = (1 - GARCH_ALPHA - GARCH_BETA) * s.baseVar + GARCH_ALPHA * s.lastShock ** 2 + GARCH_BETA * s.h;
  const sigma = Math.sqrt(s.h) * REGIME_VOL[s.regime];
  const z = s.beta * marketZ + Math.sqrt(1 - s.beta * s.beta) * rng.gaussian();
  const shock = sigma * z;
  // GARCH is fed the unscaled shock so that regimes do not compound into its memory.
  s.lastShock = shock / REGIME_VOL[s.regime];
  const open = s.close;
  const drift = REGIME_DRIFT[s.regime] - REVERSION_PER_MIN * (Math.log(open) - s.anchor);
  const close = roundPrice(open * Math.exp(drift - 0.5 * sigma * sigma + shock));
  const high = Math.max(roundPrice(Math.max(open, close) * Math.exp(0.5 * sigma * Math.abs(rng.gaussian()))), open, close);
  const low = Math.min(roundPrice(Math.min(open, close) * Math.exp(-0.5 * sigma * Math.abs(rng.gaussian()))), open, close);
  const activity = (sigma / Math.sqrt(s.baseVar)) ** 1.3 * (1 + Math.abs(z));
  const volume = Math.round(s.baseVolume * activity * Math.exp(0.4 * rng.gaussian()) * 1000) / 1000;
  s.close = close;
  return { ts, open, high, low, close, volume, symbol: s.symbol, regime: s.regime };
}

/**
 * Generates the bars in time order: minute 0 of every symbol (SYN000 first), then
 * minute 1, and so on. Lazy: memory does not grow with `minutes`.
 */
export function* synthBars(opts: SynthOptions): Generator<SynthBar> {
  checkSynthOptions(opts);
  const start = opts.start ?? SYNTH_DEFAULT_START;
  const root = mixSeed(opts.seed % 2 ** 32, Math.floor(opts.seed / 2 ** 32));
  const market = mulberry32(mixSeed(root, 0));
  const states = Array.from({ length: opts.symbols }, (_, i) => initSymbol(root, i));
  for (let m = 0; m < opts.minutes; m++) {
    const ts = start + m * MINUTE_MS;
    const marketZ = market.gaussian();
    for (const s of states) yield step(s, ts, marketZ);
  }
}

/**
 * The same bars as `synthBars`, as an async stream that yields to the event loop
 * every `chunk` bars (so a long run does not starve timers and sockets) and stops
 * when `signal` aborts.
 */
export async function* synthBarStream(
  opts: SynthOptions,
  { signal, chunk = 1_000 }: { signal?: AbortSignal; chunk?: number } = {},
): AsyncGenerator<SynthBar> {
  let n = 0;
  for (const bar of synthBars(opts)) {
    if (signal?.aborted) return;
    yield bar;
    if (++n % chunk === 0) await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
