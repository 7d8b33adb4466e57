// Types of series.js (the page loads the JavaScript; tests and editors read these).
export class TimeStore<T = unknown> {
  constructor(max: number);
  readonly size: number;
  set(ts: number, value: T): void;
  get(ts: number): T | undefined;
  keys(): number[];
  values(): T[];
  last(): T | undefined;
  clear(): void;
  trim(): void;
}
export function pushNewest<T>(list: T[], item: T, max: number): T[];
