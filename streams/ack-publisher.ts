import type { JetStreamPublishOptions, PubAck } from '@nats-io/jetstream';
import { serverMaxPayload } from './dead-letter-size.ts';
import { SignalsError } from '../config/index.ts';
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** What publishing needs of a JetStream client: `JetStreamClient` and `AckPublisher` both fit. */
export type JsPublisher = {
  publish(subject: string, data: Uint8Array, opts?: Partial<JetStreamPublishOptions>): Promise<PubAck>;
  /** The largest message (payload plus headers) the connected server accepts, when the publisher knows it. */
  maxPayload?(): number;
};

/**
 * The stream refused a publish (its PubAck carried an error), or no stream listens on
 * the subject. A 4xx is a refusal of the message itself (too large, a failed
 * expectation) and is final; anything else (503 during a restart or an election) is
 * passing, and the same message may be published again.
 */
export class PublishRejectedError extends SignalsError {
  override readonly name = 'PublishRejectedError';
  override readonly retryable: boolean;
  constructor(
    message: string,
    readonly code: number,
    readonly errCode?: number,
  ) {
    super(message);
    this.retryable = !(code >= 400 && code < 500);
  }
}

/** No PubAck arrived in time (the server is slow, or the connection is down). */
export class PublishTimeoutError extends SignalsError {
  override readonly name = 'PublishTimeoutError';
  override readonly retryable = true;
}

/** The connection dropped while the publish waited for its PubAck: it may or may not be stored; publish it again. */
export class PublishConnectionLostError extends SignalsError {
  override readonly name = 'PublishConnectionLostError';
  override readonly retryable = true;
}

type Pending = { resolve(ack: PubAck): void; reject(err: Error): void; deadline: number };

const decoder = new TextDecoder();
const SWEEP_MS = 100;

/**
 * JetStream publishing with confirmations, cheap enough for the hot path: every
 * publish is a core publish whose reply subject is a token under one inbox
 * subscription, and the stream's PubAck (or error) settles it. The client
 * library's `js.publish` is a request per message, and each request builds two
 * Error objects with stack traces (one of them even on success): a fifth of the
 * CPU of the prediction path. Same semantics: resolves with the PubAck,
 * rejects when the stream refuses the message, nobody listens (503), or no
 * PubAck arrives within `timeoutMs` (a message may then still have been stored;
 * publish with a msgId and retry, the stream drops the duplicate).
 */
export class AckPublisher implements JsPublisher {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly sweeper: NodeJS.Timeout;
  private next = 0;
  private closedError: Error | undefined;
  /** Set while the connection is down: publishes wait for the reconnect instead of queueing in the client. */
  private reconnected: { promise: Promise<void>; resolve(): void } | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = 5_000,
  ) {
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.settle(msg)) });
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
    this.sub.closed.then(
      () => this.failAll(new Error('the ack subscription closed')),
      (err: unknown) => this.failAll(err instanceof Error ? err : new Error(String(err))),
    );
    void this.watchConnection();
  }

  /**
   * Keeps publishes in order across a dropped connection. When the server goes away,
   * what was written to the dead socket is lost or stored, while what the client
   * library would queue meanwhile goes out first after the reconnect: a retry of the
   * lost ones would then land behind newer messages. So at a disconnect every publish
   * waiting for its PubAck fails at once (its caller sends it again, with its msg id,
   * in order), and new publishes wait for the reconnect instead of being queued.
   */
  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === 'disconnect' && !this.reconnected) {
        let resolve = () => undefined as void;
        const promise = new Promise<void>((r) => (resolve = r));
        this.reconnected = { promise, resolve };
        this.failPending(new PublishConnectionLostError('the connection to NATS dropped before the PubAck arrived'));
      } else if (s.type === 'reconnect' || s.type === 'close') {
        const waiting = this.reconnected;
        this.reconnected = undefined;
        waiting?.resolve();
      }
    }
  }

  maxPayload(): number {
    return serverMaxPayload(this.nc);
  }

  /** Messages published and not yet confirmed. */
  get inFlight(): number {
    return this.pending.size;
  }

  publish(subject: string, data: Uint8Array, opts: Partial<JetStreamPublishOptions> = {}): Promise<PubAck> {
    if (this.closedError) return Promise.reject(this.closedError);
    const down = this.reconnected;
    if (down) {
      // Wait for the reconnect, as long as the PubAck would have been waited for.
      const timeout = opts.timeout ?? this.timeoutMs;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new PublishTimeoutError(`not reconnected to NATS within ${timeout} ms`)), timeout);
        void down.promise.then(() => {
          clearTimeout(timer);
          resolve();
        });
      }).then(() => this.publish(subject, data, opts));
    }
    const token = (this.next++).toString(36);
    const h = opts.headers ?? (opts.msgID ? natsHeaders() : undefined);
    if (opts.msgID) h?.set('Nats-Msg-Id', opts.msgID);
    return new Promise<PubAck>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, deadline: Date.now() + (opts.timeout ?? this.timeoutMs) });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${token}`, ...(h ? { headers: h } : {}) });
      } catch (err) {
        this.pending.delete(token);
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Stops listening; whatever is still in flight is rejected. */
  close(): void {
    clearInterval(this.sweeper);
    this.failAll(new Error('publisher closed'));
    this.sub.unsubscribe();
  }

  private settle(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // timed out earlier
    this.pending.delete(token);
    const status = msg.headers?.code ?? 0;
    if (status === 503) return p.reject(new PublishRejectedError('no stream captures this subject (503 no responders)', 503));
    if (msg.data.length === 0) return p.reject(new PublishRejectedError(`empty PubAck (status ${status})`, status));
    let body: { stream?: string; seq?: number; duplicate?: boolean; domain?: string; error?: { code?: number; err_code?: number; description?: string } };
    try {
      body = JSON.parse(decoder.decode(msg.data)) as typeof body;
    } catch {
      return p.reject(new PublishRejectedError('PubAck is not JSON', 0));
    }
    if (body.error) return p.reject(new PublishRejectedError(body.error.description ?? 'publish rejected', body.error.code ?? 0, body.error.err_code));
    if (!body.stream) return p.reject(new PublishRejectedError('invalid PubAck', 0));
    p.resolve({ stream: body.stream, seq: body.seq ?? 0, duplicate: body.duplicate ?? false, ...(body.domain ? { domain: body.domain } : {}) });
  }

  private sweep(): void {
    if (this.pending.size === 0) return;
    const now = Date.now();
    for (const [token, p] of this.pending) {
      if (p.deadline <= now) {
        this.pending.delete(token);
        p.reject(new PublishTimeoutError(`no PubAck within ${this.timeoutMs} ms`));
      }
    }
  }

  private failAll(err: Error): void {
    this.closedError ??= err;
    this.failPending(err);
    this.reconnected?.resolve();
  }

  private failPending(err: Error): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

const publishers = new WeakMap<NatsConnection, AckPublisher>();

/** The connection's shared AckPublisher (one inbox subscription per connection). */
export function ackPublisher(nc: NatsConnection): AckPublisher {
  let p = publishers.get(nc);
  if (!p) {
    p = new AckPublisher(nc);
    publishers.set(nc, p);
  }
  return p;
}
