import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A private nats-server with JetStream for one test file: random port, its own
 * temp store dir. `restart()` keeps port and store (for outage tests).
 */
export class NatsServer {
  private proc: ChildProcess | undefined;
  private constructor(
    readonly storeDir: string,
    public port: number,
    private readonly extraArgs: readonly string[] = [],
  ) {}

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** `args`: extra nats-server flags, e.g. `['--user', 'u', '--pass', 'p']` or `['--auth', token]`. */
  static async start(args: readonly string[] = []): Promise<NatsServer> {
    const dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
    const server = new NatsServer(dir, -1, args);
    await server.spawn();
    return server;
  }

  private async spawn(): Promise<void> {
    const bin = process.env.NATS_SERVER_BIN ?? 'nats-server';
    const proc = spawn(bin, ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', this.storeDir, ...this.extraArgs], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.port = await new Promise<number>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start:\n${log}`)), 15_000);
      const onData = (chunk: Buffer) => {
        log += chunk.toString();
        const m = /Listening for client connections on [^:\s]+:(\d+)/.exec(log);
        if (m && /Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      };
      proc.stderr?.on('data', onData);
      proc.stdout?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}:\n${log}`));
      });
      proc.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** SIGKILL: the server dies at once, mid-write, as in a crash (the store dir stays). */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill(signal);
    });
  }

  /** Starts the server again on the same port and store (after `stop` or `kill`). */
  async start(): Promise<void> {
    if (this.proc) return;
    await this.spawn();
  }

  async restart(downMs = 0): Promise<void> {
    await this.stop();
    if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
    await this.spawn();
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.storeDir, { recursive: true, force: true });
  }
}
