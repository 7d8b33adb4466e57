import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from '@nats-io/transport-node';

const ACK = new TextEncoder().encode('+ACK');
const TERM = new TextEncoder().encode('+TERM');
const WPI = new TextEncoder().encode('+WPI');
const NAK = new TextEncoder().encode('-NAK');

/** Delivery metadata of a JetStream message, from its ack subject. */
export type DeliveryInfo = {
  stream: string;
  consumer: string;
  deliveryCount: number;
  streamSequence: number;
  deliverySequence: number;
  /** Messages still pending for the consumer after this one (0 = caught up). */
  pending: number;
};

/** A message delivered by a pull request; ack/term/working answer its ack subject. */
export type PulledMsg = {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
  info: DeliveryInfo;
  ack(): void;
  term(): void;
  working(): void;
  /** Asks for an immediate redelivery (the handler gave up on it for now). */
  nak(): void;
};

/** Parses `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>` (and the v2 form with domain and account). */
export function parseAckSubject(reply: string): DeliveryInfo | undefined {
  const t = reply.split('.');
  if (t[0] !== '$JS' || t[1] !== 'ACK') return undefined;
  const base = t.length === 9 ? 2 : t.length >= 12 ? 4 : -1;
  if (base < 0) return undefined;
  return {
    stream: t[base]!,
    consumer: t[base + 1]!,
    deliveryCount: Number(t[base + 2]),
    streamSequence: Number(t[base + 3]),
    deliverySequence: Number(t[base + 4]),
    pending: Number(t[base + 6]),
  };
}

/**
 * A delivered message. Hot-path economy: no closures per message, and the headers
 * and the delivery info are decoded only when read (most messages never need them).
 */
class DeliveredMsg implements PulledMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  private parsed: DeliveryInfo | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly msg: Msg,
    private readonly reply: string,
  ) {
    this.subject = msg.subject;
    this.data = msg.data;
  }

  /**
   * The message's headers, decoded on first read. A header block the client library
   * cannot decode (a key it refuses, say: other clients publish those) reads as no
   * headers: it is the publisher's metadata, and must not make a valid payload fail.
   */
  get headers(): MsgHdrs | undefined {
    try {
      return this.msg.headers;
    } catch {
      return undefined;
    }
  }

  get info(): DeliveryInfo {
    this.parsed ??= parseAckSubject(this.reply) ?? {
      stream: '', consumer: '', deliveryCount: 1, streamSequence: 0, deliverySequence: 0, pending: 0,
    };
    return this.parsed;
  }

  ack(): void {
    this.answer(ACK);
  }

  term(): void {
    this.answer(TERM);
  }

  working(): void {
    this.answer(WPI);
  }

  nak(): void {
    this.answer(NAK);
  }

  /**
   * Answers the ack subject. On a closed or draining connection this cannot be sent,
   * and must not throw either (it runs from timers and callbacks, where a throw would end
   * the process): an ack that never arrives only means the server delivers the message
   * again, and every reader stores idempotently.
   */
  private answer(what: Uint8Array): void {
    if (this.nc.isClosed()) return;
    try {
      this.nc.publish(this.reply, what);
    } catch {
      // closed or draining meanwhile: see above
    }
  }
}

export type PullPumpOptions = {
  stream: string;
  durable: string;
  /** Messages asked for per pull request. */
  batch: number;
  /** Life of a pull request on the server; an idle pump re-pulls this often. */
  expiresMs?: number;
  /** Called for every delivered message, in delivery order. */
  onMessage(msg: PulledMsg): void;
  /** Backpressure: a new pull is issued only while this returns true. */
  wantsMore(): boolean;
};

/**
 * A pull consumer with explicit flow control: at most two pull requests are
 * outstanding, and none is issued while the application's buffer is full
 * (`wantsMore`). Written because the library's `consume()` against nats-server
 * 2.9 was measured to fall into a trickle (~1k msgs/s) once the consumer sat at
 * its max_ack_pending. Re-pulls on request expiry, and after a reconnect or a
 * silent server (watchdog), so a nats-server restart is survived.
 */
export class PullPump {
  private sub: Subscription | undefined;
  private readonly inbox = createInbox();
  /** Messages requested and not yet delivered or expired. */
  private outstanding = 0;
  private lastActivity = Date.now();
  private watchdog: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly expiresMs: number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: PullPumpOptions,
  ) {
    this.expiresMs = opts.expiresMs ?? 5_000;
  }

  start(): void {
    this.sub = this.nc.subscribe(this.inbox, { callback: (err, msg) => (err ? undefined : this.onMsg(msg)) });
    this.watchdog = setInterval(() => {
      // No delivery and no expiry notice for too long: the server lost our requests (restart).
      if (this.outstanding > 0 && Date.now() - this.lastActivity > this.expiresMs + 3_000) {
        this.outstanding = 0;
        this.lastActivity = Date.now();
      }
      this.poke();
    }, 1_000);
    void this.watchStatus();
    this.poke();
  }

  /** Issues pull requests while the application wants more and fewer than two batches are outstanding. */
  poke(): void {
    while (!this.closed && !this.nc.isClosed() && this.outstanding <= this.opts.batch && this.opts.wantsMore()) {
      try {
        this.nc.publish(
          `$JS.API.CONSUMER.MSG.NEXT.${this.opts.stream}.${this.opts.durable}`,
          JSON.stringify({ batch: this.opts.batch, expires: this.expiresMs * 1_000_000 }),
          { reply: this.inbox },
        );
      } catch {
        // The connection is draining or closing (a stop): no more pulls; runs from a timer, so never throw.
        return;
      }
      this.outstanding += this.opts.batch;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.watchdog);
    if (this.sub && !this.nc.isClosed()) await this.sub.drain().catch(() => undefined);
  }

  private onMsg(msg: Msg): void {
    this.lastActivity = Date.now();
    const reply = msg.reply;
    if (!reply) {
      // A status (no reply subject): 408 request expired / 409 limit / 100 heartbeat.
      const code = msg.headers?.code ?? 0;
      if (code === 100 || code === 0) return;
      // What the request did not deliver is no longer outstanding.
      const left = Number(msg.headers?.get('Nats-Pending-Messages') || this.opts.batch);
      this.outstanding = Math.max(0, this.outstanding - left);
      this.poke();
      return;
    }
    if (!reply.startsWith('$JS.ACK.')) return;
    this.outstanding = Math.max(0, this.outstanding - 1);
    this.opts.onMessage(new DeliveredMsg(this.nc, msg, reply));
    this.poke();
  }

  private async watchStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === 'reconnect') {
        // Requests held by the old server connection are gone.
        this.outstanding = 0;
        this.poke();
      }
    }
  }
}
