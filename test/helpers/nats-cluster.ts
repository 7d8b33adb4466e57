import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsServer } from './nats-server.ts';
import { freePort } from './ports.ts';

/**
 * A local JetStream cluster for tests: `size` nats-server processes on random
 * ports with routes to each other, each with its own temp store dir, as a user
 * would run three nodes. Nodes can be killed and restarted on the same ports and
 * stores.
 */
export class NatsCluster {
  private constructor(readonly nodes: NatsServer[]) {}

  static async start(size = 3): Promise<NatsCluster> {
    const routePorts = await Promise.all(Array.from({ length: size }, () => freePort()));
    const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(',');
    const nodes = await Promise.all(
      routePorts.map((p, i) => NatsServer.start(['--server_name', `n${i + 1}`, '--cluster_name', 'signals-test', '--cluster', `nats://127.0.0.1:${p}`, '--routes', routes])),
    );
    const cluster = new NatsCluster(nodes);
    await cluster.ready();
    return cluster;
  }

  /** Every node's client URL, comma-separated (what NATS_URL takes). */
  get url(): string {
    return this.nodes.map((n) => n.url).join(',');
  }

  /** The node whose client URL is `url`'s server, by server name `n<i>`. */
  node(serverName: string): NatsServer {
    const n = this.nodes[Number(serverName.replace(/^n/, '')) - 1];
    if (!n) throw new Error(`no node ${serverName}`);
    return n;
  }

  /** Resolves once JetStream has a meta leader and takes a replicated stream. */
  async ready(timeoutMs = 30_000): Promise<void> {
    const nc = await connect({ servers: this.url.split(','), reconnect: true });
    try {
      const end = Date.now() + timeoutMs;
      for (;;) {
        try {
          // Until a meta leader is elected even the account info request times out.
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.streams.add({ name: 'CLUSTER_PROBE', subjects: ['cluster.probe'], num_replicas: this.nodes.length });
          await jsm.streams.delete('CLUSTER_PROBE');
          return;
        } catch (err) {
          if (Date.now() > end) throw new Error(`the cluster did not form: ${(err as Error).message}`, { cause: err });
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    } finally {
      await nc.close();
    }
  }

  /** Deletes every stream (KV buckets included), so a next run starts on an empty cluster. */
  async deleteStreams(): Promise<void> {
    const nc = await connect({ servers: this.url.split(',') });
    try {
      const jsm = await jetstreamManager(nc);
      const names: string[] = [];
      for await (const info of jsm.streams.list()) names.push(info.config.name);
      for (const n of names) await jsm.streams.delete(n);
    } finally {
      await nc.close();
    }
  }

  async dispose(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.dispose()));
  }
}
