import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSettings } from '../../../config/index.ts';
import { connectNats, ensureTopology, KV_BUCKETS, msgIds, publishPipelined, STREAMS, subjects, TopologyError, type TimedMessage } from '../../../streams/index.ts';
import { NatsCluster } from '../../helpers/nats-cluster.ts';
import { NatsServer } from '../../helpers/nats-server.ts';
import { TestDatabase } from '../../helpers/postgres.ts';
import { runCli } from '../../system/harness.ts';

const limits = { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 600 };
const settingsFor = (url: string) => loadSettings({}, { NATS_URL: url });

/** Publishes one batch, again with the same msg ids until a stream leader acks it. */
async function publishUntilAcked(js: ReturnType<typeof jetstream>, batch: TimedMessage[]): Promise<number> {
  for (let attempt = 0; ; attempt++) {
    try {
      await publishPipelined(js, batch);
      return attempt;
    } catch (err) {
      if (attempt >= 150) throw err;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('a three-node JetStream cluster', () => {
  let cluster: NatsCluster;
  beforeAll(async () => {
    cluster = await NatsCluster.start(3);
  }, 60_000);
  afterAll(async () => {
    await cluster?.dispose();
  });

  it('raises every stream and KV bucket from one replica to three in place, keeping their messages', async () => {
    const nc = await connectNats(settingsFor(cluster.url), 'cluster-topology');
    try {
      const jsm = await ensureTopology(nc, { ...limits, replicas: 1 });
      const js = jetstream(nc);
      await js.publish(subjects.tick('c', 'KEEP'), JSON.stringify({ kept: true }), { msgID: 'keep-1' });
      await ensureTopology(nc, { ...limits, replicas: 3 });
      for (const name of [...Object.keys(STREAMS), ...Object.values(KV_BUCKETS).map((b) => `KV_${b}`)]) {
        const info = await jsm.streams.info(name);
        expect(info.config.num_replicas, name).toBe(3);
      }
      expect((await jsm.streams.info('MD_TICKS')).state.messages, 'the message published at one replica is still there').toBe(1);
      // Run again with fewer: nothing is lowered behind the operator's back.
      await ensureTopology(nc, { ...limits, replicas: 1 });
      expect((await jsm.streams.info('MD_TICKS')).config.num_replicas).toBe(3);
      await jsm.streams.purge('MD_TICKS');
    } finally {
      await nc.close();
    }
  }, 60_000);

  it('loses and duplicates nothing when the node leading MD_TICKS is killed mid-stream', async () => {
    const nc = await connectNats(settingsFor(cluster.url), 'cluster-publisher');
    try {
      const jsm = await jetstreamManager(nc);
      const js = jetstream(nc);
      await ensureTopology(nc, { ...limits, replicas: 3 });
      await jsm.streams.purge('MD_TICKS');
      const batches: TimedMessage[][] = Array.from({ length: 60 }, (_, b) =>
        Array.from({ length: 50 }, (_, i) => {
          const tradeId = `t${b * 50 + i}`;
          return { ts: 0, subject: subjects.tick('c', 'LOSS'), payload: { n: b * 50 + i }, msgId: msgIds.tick('c', 'LOSS', tradeId) };
        }),
      );
      let retries = 0;
      let killed: string | undefined;
      let pauseMs = 0;
      for (const [b, batch] of batches.entries()) {
        if (b === 20) {
          killed = (await jsm.streams.info('MD_TICKS')).cluster?.leader;
          expect(killed, 'MD_TICKS has a leader').toBeDefined();
          await cluster.node(killed ?? '').kill();
        }
        const t = performance.now();
        retries += await publishUntilAcked(js, b === 25 ? [...batch, ...batches[10]!] : batch);
        if (b >= 20) pauseMs = Math.max(pauseMs, performance.now() - t);
      }
      const info = await jsm.streams.info('MD_TICKS');
      expect(info.state.messages, 'every message once: the re-sent batch 10 was dropped by its msg ids').toBe(3_000);
      expect(info.cluster?.leader, 'a new leader').not.toBe(killed);
      console.log(`cluster: killed ${killed} leading MD_TICKS; new leader ${info.cluster?.leader}; ${retries} batch retries; longest publish after the kill ${pauseMs.toFixed(0)} ms`);

      // `signals status` shows each stream's replicas, its leader, and the replica that is gone.
      const db = await TestDatabase.create('cluster_status');
      try {
        const env = { NATS_URL: cluster.url, DATABASE_URL: db.url, LOG_LEVEL: 'warn' };
        expect((await runCli(['migrate'], env)).code).toBe(0);
        type Report = { streams: { stream: string; replicas: number; leader: string | null; lagging: string[] }[] };
        let report: Report | undefined;
        // A stream still electing a leader is reported as not answering (exit 0 all the same): asked again until it has one.
        for (let attempt = 0; attempt < 10; attempt++) {
          const status = await runCli(['status', '--json'], env);
          expect(status.code, status.out).toBe(0);
          report = JSON.parse(status.out) as Report;
          if (report.streams.find((x) => x.stream === 'MD_TICKS')?.leader) break;
          await new Promise((r) => setTimeout(r, 1_000));
        }
        const ticks = report?.streams.find((x) => x.stream === 'MD_TICKS');
        expect(ticks).toMatchObject({ replicas: 3, leader: info.cluster?.leader });
        expect(ticks?.lagging.join(' '), 'the killed node').toContain(killed ?? '?');
        expect(report?.streams.map((x) => x.stream)).toEqual(expect.arrayContaining(['KV_model_active', 'KV_work_claims']));
      } finally {
        await db.dispose();
      }
      await cluster.node(killed ?? '').start();
    } finally {
      await nc.close();
    }
  }, 120_000);
});

describe('replicas on a single server', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await NatsServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('refuses NATS_REPLICAS=3 with a message that says a cluster is needed', async () => {
    const nc = await connectNats(settingsFor(server.url), 'single');
    try {
      const err = await ensureTopology(nc, { ...limits, replicas: 3 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TopologyError);
      expect((err as Error).message).toMatch(/^stream MD_TICKS: 3 replicas refused by NATS \(.+\); NATS_REPLICAS=3 needs a JetStream cluster of at least 3 servers$/);
    } finally {
      await nc.close();
    }
  });
});
