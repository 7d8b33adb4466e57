import type { ModelSnapshot, ModelSource, ServingModel } from './model-source.ts';

/** Where an activated online model goes (the in-memory source, or the lifecycle's registry). */
export interface OnlineModelSlot {
  /** Makes `model` the online model of venue/symbol from the next snapshot on. */
  setOnline(venue: string, symbol: string, model: ServingModel): void;
}

/**
 * An in-memory ModelSource: fixed pretrained models for every symbol and an
 * online model per symbol, set by whoever activates one. For tests, benchmarks
 * and running before the model lifecycle (KV watch) exists. Snapshots are
 * immutable objects rebuilt only on change, so `snapshot` costs a map lookup.
 */
export class StaticModelSource implements ModelSource, OnlineModelSlot {
  private pretrained: readonly ServingModel[];
  private readonly online = new Map<string, ServingModel>();
  private readonly cache = new Map<string, ModelSnapshot>();

  constructor(pretrained: readonly ServingModel[]) {
    this.pretrained = Object.freeze([...pretrained]);
  }

  snapshot(venue: string, symbol: string): ModelSnapshot {
    const key = `${venue}.${symbol}`;
    let s = this.cache.get(key);
    if (!s) {
      s = Object.freeze({ pretrained: this.pretrained, online: this.online.get(key) });
      this.cache.set(key, s);
    }
    return s;
  }

  setPretrained(models: readonly ServingModel[]): void {
    this.pretrained = Object.freeze([...models]);
    this.cache.clear();
  }

  setOnline(venue: string, symbol: string, model: ServingModel): void {
    const key = `${venue}.${symbol}`;
    this.online.set(key, model);
    this.cache.delete(key);
  }

  /** Every model this source holds (to dispose them). */
  models(): ServingModel[] {
    return [...this.pretrained, ...this.online.values()];
  }
}
