import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { KV } from '@nats-io/kv';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { SignalsError, type Logger } from '../config/index.ts';
import { KV_BUCKETS, openBucket } from './index.ts';

/** What a claim holds in KV `work_claims`. */
export const claimValueSchema = z.strictObject({ owner: z.string().min(1), at: z.number().int() });
export type ClaimValue = z.output<typeof claimValueSchema>;

export type ClaimListener = {
  /** This process now owns `key` (claimed first, or taken over from a process that stopped refreshing it). */
  onAcquired?(key: string): void;
  /** Another process took `key` over (this one did not refresh it in time). */
  onLost?(key: string): void;
};

export type WorkClaimsOptions = {
  /** A claim not refreshed for this long belongs to a dead process and is taken over. */
  ttlMs: number;
  /** How often owned claims are refreshed and foreign ones checked (default ttlMs / 5, at most 1 s). */
  refreshMs?: number;
  log: Logger;
  /** Default `<hostname>:<pid>:<nuid>`. */
  processId?: string;
  now?: () => number;
};

/** The claim could not be read or written for a reason other than a lost race (NATS down, ...). */
export class WorkClaimError extends SignalsError {
  override readonly name = 'WorkClaimError';
  override readonly retryable = true;
  constructor(
    readonly key: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(`work claim ${key}: ${message}`, options);
  }
}

/** Key prefix of the presence claims: every process holds `proc.<its token>` while it runs. */
export const PRESENCE_PREFIX = 'proc.';

/** A compare-and-set write lost to another process (the key changed or exists). */
function lostRace(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists|10071|10164/i.test(`${err.message} ${String((err as { code?: unknown }).code ?? '')}`);
}

export function defaultProcessId(): string {
  return `${hostname()}:${process.pid}:${nuid.next()}`;
}

/** A short stable token of a process id, usable in consumer names. */
export function processToken(processId: string): string {
  return createHash('sha256').update(processId).digest('hex').slice(0, 12);
}

/** Rendezvous (highest random weight) hashing: the token among `tokens` that `key` belongs to. */
export function rendezvousOwner(key: string, tokens: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const t of tokens) {
    const score = createHash('sha256').update(`${t}|${key}`).digest('hex');
    if (score > bestScore) {
      best = t;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Work claims of this process in KV `work_claims`: a key (`ingest`,
 * `pred.<venue>.<symbol>`, ...) is owned by the process that wrote it last.
 * Every write is a compare-and-set (`create` for a free key, `update` at the
 * revision read), so two processes never both think they won. The owner
 * rewrites its claims every `refreshMs`; the others watch the revision and take
 * a claim over once it has not changed for `ttlMs` by their own clock (no clock
 * agreement between machines is needed). A clean stop deletes the claims so
 * others take them over at once. Every process also holds a presence claim
 * `proc.<token>` (removed, not taken over, when its process dies): `peers()`
 * and `preferredOwner()` spread new keys evenly over the live processes, and
 * `misplaced()` + `handOff()` move a key to its preferred owner once that
 * process has been up for a while (a process that joins later gets its share):
 * the owner writes the claim in the new owner's name, and the new owner, which
 * watches every key in the bucket, takes it from there.
 */
export class WorkClaims {
  readonly processId: string;
  readonly token: string;
  private readonly owned = new Map<string, number>();
  /** Keys owned by others: the revision last seen and when (local clock) it last changed. */
  private readonly foreign = new Map<string, { revision: number; changedAt: number }>();
  private readonly listeners = new Set<ClaimListener>();
  private readonly log: Logger;
  private readonly refreshMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> = Promise.resolve();
  private stopped = false;
  private discoveredAt = 0;
  /** Presence keys of other processes: when this process first saw them. */
  private readonly peerSince = new Map<string, number>();
  /** Refresh rounds and hand-overs run one at a time (both write the owned claims at their revisions). */
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly kv: KV,
    private readonly opts: WorkClaimsOptions,
  ) {
    this.processId = opts.processId ?? defaultProcessId();
    this.token = processToken(this.processId);
    this.log = opts.log.child({ actor: 'workClaims', processId: this.processId });
    this.refreshMs = opts.refreshMs ?? Math.min(1_000, Math.max(50, Math.floor(opts.ttlMs / 5)));
    this.now = opts.now ?? Date.now;
  }

  static async open(nc: NatsConnection, opts: WorkClaimsOptions): Promise<WorkClaims> {
    const claims = new WorkClaims(await openBucket(nc, KV_BUCKETS.workClaims, 1), opts);
    await claims.claim(`${PRESENCE_PREFIX}${claims.token}`);
    await claims.discover();
    claims.start();
    return claims;
  }

  /**
   * Watches every key not known yet: the presence claims of new processes, and
   * work keys this process has not met (so a key handed over to it, or held by
   * a process that dies, reaches it even if it never asked for that key).
   */
  async discover(): Promise<void> {
    const keys: string[] = [];
    for await (const k of await this.kv.keys()) keys.push(k);
    for (const k of keys) if (!this.knows(k)) await this.observe(k);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /** Tokens of the live processes (this one and those whose presence claims are refreshed), sorted. */
  peers(): string[] {
    const now = this.now();
    const live = [this.token];
    for (const [k, seen] of this.foreign) {
      if (k.startsWith(PRESENCE_PREFIX) && now - seen.changedAt < this.opts.ttlMs) live.push(k.slice(PRESENCE_PREFIX.length));
    }
    return live.sort();
  }

  /**
   * The live process that should own `key` (rendezvous hashing over `peers()`):
   * processes that agree on who is alive agree on the owner, and keys spread
   * evenly. A preference only: the claim itself decides.
   */
  preferredOwner(key: string): string {
    return rendezvousOwner(key, this.peers()) ?? this.token;
  }

  listen(l: ClaimListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  owns(key: string): boolean {
    return this.owned.has(key);
  }

  /** True once this process has tried the key (it owns it or watches its owner). */
  knows(key: string): boolean {
    return this.owned.has(key) || this.foreign.has(key);
  }

  ownedKeys(): string[] {
    return [...this.owned.keys()];
  }

  private value(): Uint8Array {
    const v: ClaimValue = { owner: this.processId, at: this.now() };
    return new TextEncoder().encode(JSON.stringify(v));
  }

  private emit(kind: 'onAcquired' | 'onLost', key: string): void {
    this.log.info({ key }, kind === 'onAcquired' ? 'claim acquired' : 'claim lost');
    for (const l of this.listeners) {
      try {
        l[kind]?.(key);
      } catch (err) {
        this.log.error({ err, key }, `claim listener ${kind} failed`);
      }
    }
  }

  private acquired(key: string, revision: number): void {
    this.foreign.delete(key);
    this.owned.set(key, revision);
    this.emit('onAcquired', key);
  }

  /** Writes the claim over `revision` (0: create). True when this process won it. */
  private async take(key: string, revision: number): Promise<boolean> {
    try {
      const rev = revision === 0 ? await this.kv.create(key, this.value()) : await this.kv.update(key, this.value(), revision);
      this.acquired(key, rev);
      return true;
    } catch (err) {
      if (lostRace(err)) return false;
      throw new WorkClaimError(key, 'could not write the claim', { cause: err });
    }
  }

  /**
   * Claims `key` now if it is free (or its holder released it). Otherwise the
   * holder is watched and the key taken over when it stops refreshing. Resolves
   * with whether this process owns the key; listeners hear `onAcquired` first.
   */
  async claim(key: string): Promise<boolean> {
    if (this.owned.has(key)) return true;
    if (this.stopped) return false;
    if (await this.take(key, 0)) return true;
    const entry = await this.kv.get(key).catch((err: unknown) => {
      throw new WorkClaimError(key, 'could not read the claim', { cause: err });
    });
    if (!entry) return this.take(key, 0);
    if (entry.operation !== 'PUT') return this.take(key, entry.revision);
    const v = claimValueSchema.safeParse(parseJson(entry.value));
    if (v.success && v.data.owner === this.processId) {
      this.acquired(key, entry.revision);
      return true;
    }
    if (!this.foreign.has(key)) this.foreign.set(key, { revision: entry.revision, changedAt: this.now() });
    return false;
  }

  /**
   * Reads `key` without claiming it: a key held by another process is watched
   * from now on (it counts in `counts` and is taken over if its holder dies).
   * True when the key is free.
   */
  async observe(key: string): Promise<boolean> {
    if (this.knows(key)) return false;
    const entry = await this.kv.get(key).catch((err: unknown) => {
      throw new WorkClaimError(key, 'could not read the claim', { cause: err });
    });
    if (!entry || entry.operation !== 'PUT') return true;
    const v = claimValueSchema.safeParse(parseJson(entry.value));
    if (v.success && v.data.owner === this.processId) return true;
    if (!this.knows(key)) {
      this.foreign.set(key, { revision: entry.revision, changedAt: this.now() });
      if (key.startsWith(PRESENCE_PREFIX) && !this.peerSince.has(key)) this.peerSince.set(key, this.now());
    }
    return false;
  }

  /**
   * Owned keys starting with `prefix` whose preferred owner is another live
   * process, seen by this one for at least `stableMs` (a process that has just
   * started, or flaps, is not handed work yet), with that process's token.
   */
  misplaced(prefix: string, stableMs: number): { key: string; to: string }[] {
    const now = this.now();
    const peers = this.peers();
    const out: { key: string; to: string }[] = [];
    for (const key of this.owned.keys()) {
      if (!key.startsWith(prefix)) continue;
      const to = rendezvousOwner(key, peers) ?? this.token;
      const since = this.peerSince.get(`${PRESENCE_PREFIX}${to}`);
      if (to !== this.token && since !== undefined && now - since >= stableMs) out.push({ key, to });
    }
    return out;
  }

  /**
   * Hands an owned key over to the live process with token `to`: the claim is
   * rewritten (compare-and-set) in that process's name, and this process watches
   * it from then on like any foreign key (if the new owner never refreshes it,
   * it is taken over after the TTL as from a dead process). Listeners hear
   * `onLost`. The caller must have nothing in flight for the key. False when the
   * key was not this process's to hand over (any more).
   */
  handOff(key: string, to: string): Promise<boolean> {
    return this.serial(async () => {
      const revision = this.owned.get(key);
      if (revision === undefined || this.stopped) return false;
      const presence = await this.kv.get(`${PRESENCE_PREFIX}${to}`).catch((err: unknown) => {
        throw new WorkClaimError(key, 'could not read the presence of the new owner', { cause: err });
      });
      const target = presence?.operation === 'PUT' ? claimValueSchema.safeParse(parseJson(presence.value)) : undefined;
      if (!target?.success) return false;
      const value: ClaimValue = { owner: target.data.owner, at: this.now() };
      let rev: number;
      try {
        rev = await this.kv.update(key, new TextEncoder().encode(JSON.stringify(value)), revision);
      } catch (err) {
        if (!lostRace(err)) throw new WorkClaimError(key, 'could not hand the claim over', { cause: err });
        rev = 0;
      }
      this.owned.delete(key);
      this.foreign.set(key, { revision: rev, changedAt: this.now() });
      if (rev > 0) this.log.info({ key, to: target.data.owner }, 'claim handed over to its preferred owner');
      this.emit('onLost', key);
      return rev > 0;
    });
  }

  start(): void {
    if (this.timer || this.stopped) return;
    const loop = () => {
      this.ticking = this.serial(() => this.tick())
        .catch((err: unknown) => this.log.warn({ err }, 'work claims refresh failed; retrying'))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, this.refreshMs);
        });
    };
    this.timer = setTimeout(loop, this.refreshMs);
  }

  /** One round: refresh what this process owns, take over what a dead process held. */
  async tick(): Promise<void> {
    for (const [key, revision] of [...this.owned]) {
      if (this.stopped) return;
      try {
        this.owned.set(key, await this.kv.update(key, this.value(), revision));
      } catch (err) {
        if (!lostRace(err)) {
          this.log.warn({ err, key }, 'could not refresh a claim');
          continue;
        }
        this.owned.delete(key);
        this.foreign.set(key, { revision: 0, changedAt: this.now() });
        this.emit('onLost', key);
      }
    }
    // New processes and keys are looked for twice per TTL (listing keys costs a consumer on the bucket).
    if (this.now() - this.discoveredAt >= this.opts.ttlMs / 2) {
      this.discoveredAt = this.now();
      await this.discover();
    }
    for (const [key, seen] of [...this.foreign]) {
      if (this.stopped) return;
      const entry = await this.kv.get(key);
      const now = this.now();
      const presence = key.startsWith(PRESENCE_PREFIX);
      if (presence && (!entry || entry.operation !== 'PUT' || (entry.revision === seen.revision && now - seen.changedAt >= this.opts.ttlMs))) {
        // A process gone: its presence claim is not taken over but removed.
        this.foreign.delete(key);
        this.peerSince.delete(key);
        if (entry?.operation === 'PUT') await this.kv.delete(key, { previousSeq: entry.revision }).catch(() => undefined);
      } else if (!entry || entry.operation !== 'PUT') {
        await this.take(key, entry?.revision ?? 0);
      } else if (entry.revision !== seen.revision) {
        const v = presence ? undefined : claimValueSchema.safeParse(parseJson(entry.value));
        if (v?.success && v.data.owner === this.processId) {
          // Handed over to this process by its owner.
          this.acquired(key, entry.revision);
          continue;
        }
        this.foreign.set(key, { revision: entry.revision, changedAt: now });
      } else if (now - seen.changedAt >= this.opts.ttlMs) {
        const owner = claimValueSchema.safeParse(parseJson(entry.value));
        if (await this.take(key, entry.revision)) {
          this.log.warn({ key, from: owner.success ? owner.data.owner : 'unknown', silentMs: now - seen.changedAt }, 'took a claim over from a process that stopped refreshing it');
        }
      }
    }
  }

  /** Stops refreshing and deletes this process's claims (others take them over at once). */
  /**
   * Deletes a claim of ours. A refresh may have moved its revision since we last saw it:
   * then the key is read again and deleted at its current revision if it still names
   * us, so a clean stop never leaves a claim (or our presence) behind until its TTL.
   */
  private async release(key: string, revision: number): Promise<void> {
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return;
    } catch {
      // read it again below
    }
    try {
      const e = await this.kv.get(key);
      const owner = e && e.operation === 'PUT' ? (parseJson(e.value) as { owner?: unknown } | undefined)?.owner : undefined;
      if (e && owner === this.processId) await this.kv.delete(key, { previousSeq: e.revision });
    } catch (err) {
      this.log.warn({ err, key }, 'could not release a claim');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    await this.lock;
    for (const [key, revision] of this.owned) await this.release(key, revision);
    this.owned.clear();
    this.foreign.clear();
    this.listeners.clear();
  }
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}
