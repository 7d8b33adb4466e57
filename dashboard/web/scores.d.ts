// Types of scores.js (the page loads the JavaScript; tests and editors read these).
export type HorizonForecastLike = { value: number; pUp: number; sigma: number; q05?: number; q25?: number; q50?: number; q75?: number; q95?: number };
export type ComponentLike = { role: string; version: string; horizons?: Record<string, { sigma?: number; value?: number; pUp?: number }> };
export type PredictionLike = { ts: number; horizons?: Record<string, HorizonForecastLike>; components: ComponentLike[] };
export type ScorePoint = { time: number; n: number; qlike: Record<string, number>; hitRate: number | null; brier: number | null; coverage50: number | null; coverage90: number | null };
export type VolPoint = { time: number; forecast: number; realised: number };
export function horizonMinutes(key: string): number;
export function qlikeLoss(rv: number, f: number): number;
export function outcome(closes: Map<number, number>, ts: number, h: number): { r: number; rv: number } | undefined;
export function componentLabels(components: readonly { role: string; version: string }[]): string[];
export function rollingScores(predictions: readonly PredictionLike[], closes: Map<number, number>, hKey: string, window?: number): { points: ScorePoint[]; vol: VolPoint[] };
