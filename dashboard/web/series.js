// Bounded, time-keyed stores of what the page shows: a page left open for days
// keeps the newest `max` entries and nothing more.

export class TimeStore {
  constructor(max) {
    this.max = max;
    this.map = new Map();
    this.sorted = null;
  }

  set(ts, value) {
    if (!this.map.has(ts) && this.sorted && this.sorted.length > 0 && ts > this.sorted[this.sorted.length - 1]) this.sorted.push(ts);
    else if (!this.map.has(ts)) this.sorted = null;
    this.map.set(ts, value);
    if (this.map.size > this.max * 1.1) this.trim();
  }

  get(ts) {
    return this.map.get(ts);
  }

  get size() {
    return this.map.size;
  }

  keys() {
    if (!this.sorted) this.sorted = [...this.map.keys()].sort((a, b) => a - b);
    return this.sorted;
  }

  values() {
    return this.keys().map((k) => this.map.get(k));
  }

  last() {
    const k = this.keys();
    return k.length > 0 ? this.map.get(k[k.length - 1]) : undefined;
  }

  clear() {
    this.map.clear();
    this.sorted = null;
  }

  trim() {
    const keys = this.keys();
    const drop = keys.length - this.max;
    if (drop <= 0) return;
    for (const k of keys.slice(0, drop)) this.map.delete(k);
    this.sorted = keys.slice(drop);
  }
}

/** The newest `max` items of a list, newest first (for the timeline, alerts and findings). */
export function pushNewest(list, item, max) {
  list.unshift(item);
  if (list.length > max) list.length = max;
  return list;
}
