import type { ServerResponse } from 'node:http';

/** A page's live connection and the symbol it shows (its detail events). */
export type SseClient = { readonly res: ServerResponse; readonly symbol: string | undefined };

/**
 * Server-sent events to the open pages. A page that cannot keep up (its socket
 * buffer over `maxBufferedBytes`) is dropped rather than buffered without bound:
 * its EventSource reconnects and reloads, so memory stays bounded however long
 * a slow page stays open.
 */
export class SseHub {
  private readonly clients = new Set<SseClient>();
  private readonly heartbeat: NodeJS.Timeout;
  dropped = 0;

  constructor(
    private readonly maxBufferedBytes = 4 * 1024 * 1024,
    heartbeatMs = 15_000,
  ) {
    // A comment line keeps proxies from closing an idle stream and finds dead sockets.
    this.heartbeat = setInterval(() => this.sendRaw(': keep-alive\n\n', () => true), heartbeatMs);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** Symbols some page shows (`venue.symbol`). */
  watched(): Set<string> {
    return new Set([...this.clients].flatMap((c) => (c.symbol ? [c.symbol] : [])));
  }

  open(res: ServerResponse, symbol: string | undefined): SseClient {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // A page whose system restarts reconnects after a second.
    res.write('retry: 1000\n\n');
    const client: SseClient = { res, symbol };
    this.clients.add(client);
    res.on('close', () => this.clients.delete(client));
    return client;
  }

  /** Sends an event to one page. */
  sendTo(client: SseClient, event: string, data: unknown): void {
    this.write(client, `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** Sends an event to every page, or to the pages showing `symbol`. */
  send(event: string, data: unknown, symbol?: string): void {
    if (this.clients.size === 0) return;
    this.sendRaw(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`, (c) => symbol === undefined || c.symbol === symbol);
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  private sendRaw(text: string, to: (c: SseClient) => boolean): void {
    for (const c of this.clients) if (to(c)) this.write(c, text);
  }

  private write(c: SseClient, text: string): void {
    if (c.res.writableLength > this.maxBufferedBytes) {
      this.dropped += 1;
      this.clients.delete(c);
      c.res.destroy();
      return;
    }
    c.res.write(text);
  }
}
