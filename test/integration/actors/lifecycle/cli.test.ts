import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { KV } from '@nats-io/kv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerCandidate, type RegistryEnv } from '../../../../actors/lifecycle/registry.ts';
import { getVersion } from '../../../../sql/registry.repo.ts';
import { modelActiveSchema, retrainCommandSchema } from '../../../../streams/index.ts';
import { readStream } from '../../../helpers/stream-reader.ts';
import { startTestSystem, type TestSystem } from '../../../helpers/system.ts';
import { REPO_ROOT } from '../../../support/models/fixtures.ts';
import { registryEnv, trainTinyModels, type TinyModel } from '../../../support/actors/lifecycle/fixtures.ts';

const SCOPE = 'binance.BTCUSDT';
let sys: TestSystem;
let env: RegistryEnv;
let kv: KV;
let models: TinyModel[];
let disposeModels: () => Promise<void>;
const versions: string[] = [];

function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(REPO_ROOT, 'node_modules/.bin/tsx'), ['cli/main.ts', 'models', ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn', NATS_URL: sys.settings.NATS_URL, DATABASE_URL: sys.settings.DATABASE_URL },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function activeNow(): Promise<string | undefined> {
  const e = await kv.get(SCOPE);
  return e ? modelActiveSchema.parse(e.json()).pretrained.any : undefined;
}

beforeAll(async () => {
  sys = await startTestSystem('lifecycle_cli');
  ({ env, kv } = await registryEnv(sys));
  ({ models, dispose: disposeModels } = await trainTinyModels(2, 'cli'));
  for (const m of models) {
    versions.push(await registerCandidate(env.db, { scope: SCOPE, role: 'pretrained', kind: 'mlp', runId: m.runId, artifact: m.packed, metrics: { test: { n: 100, rocAuc: 0.61, f1: 0.5, rmse: 0.0012 } } }));
  }
});

afterAll(async () => {
  await disposeModels?.();
  await sys?.dispose();
});

describe('signals models', () => {
  it('promotes, lists, rolls back and shows with a readable table', async () => {
    const [v1, v2] = versions;
    if (!v1 || !v2) throw new Error('fixtures missing');
    const p1 = await cli('promote', v1);
    expect(p1.code, p1.stderr).toBe(0);
    const p2 = await cli('promote', v2, '--reason', 'better model');
    expect(p2.stdout).toMatch(new RegExp(`promoted ${v2.replace(/\./g, '\\.')} in ${SCOPE} \\(pretrained/any\\); previous ${v1}`));
    expect(await activeNow()).toBe(v2);

    const list = await cli('list');
    expect(list.code, list.stderr).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines[0], 'a header row').toMatch(/^VERSION\s+SCOPE\s+ROLE\s+REGIME\s+KIND\s+STATUS\s+AUC\s+F1\s+RMSE\s+ARTIFACT/);
    expect(lines[1], 'a rule under the header').toMatch(/^-+\s+-+/);
    expect(lines.find((l) => l.startsWith(v2)), 'the active version').toMatch(/active\s+0\.6100\s+0\.5000\s+1\.200e-3\s+[\d.]+ KiB/);
    expect(lines.find((l) => l.startsWith(v1)), 'the retired one, marked as once active').toMatch(/retired\*/);

    const rb = await cli('rollback', '--venue', 'binance', '--symbol', 'BTCUSDT');
    expect(rb.code, rb.stderr).toBe(0);
    expect(rb.stdout).toMatch(new RegExp(`rolled back ${SCOPE} \\(pretrained\\) from ${v2.replace(/\./g, '\\.')} to ${v1.replace(/\./g, '\\.')}`));
    expect(await activeNow(), 'KV after the CLI rollback').toBe(v1);
    expect((await getVersion(sys.db, v1))?.status).toBe('active');

    const show = await cli('show', v1);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/version\s+v1\.0\.0\s+\(active, has been active\)/);
    expect(show.stdout, 'its deployments').toMatch(/rollback\s+v1\.\d{4}\.\d{2}-1\s+v1\.0\.0\s+cli:/);
  });

  it('fails with clear messages and documented exit codes', async () => {
    const missing = await cli('show', 'v9.9999.99-1');
    expect(missing.code, 'not found = 10').toBe(10);
    expect(missing.stderr).toMatch(/signals: model version v9\.9999\.99-1 is not in the registry/);
    expect(missing.stderr, 'no stack trace').not.toMatch(/\n\s+at /);
    const none = await cli('rollback', '--scope', 'kraken.ETHUSD');
    expect(none.code, 'nothing to roll back = 3').toBe(3);
    expect(none.stderr).toMatch(/no active pretrained model to roll back from/);
    const usage = await cli('frobnicate');
    expect(usage.code, 'usage = 2').toBe(2);
  });

  it('publishes a retrain command', async () => {
    const r = await cli('retrain', '--venue', 'binance', '--symbol', 'BTCUSDT', '--config', '{"epochs":2}');
    expect(r.code, r.stderr).toBe(0);
    const id = /retrain requested: (\S+)/.exec(r.stdout)?.[1];
    const cmds = (await readStream(sys.nc, 'MODEL_EVENTS', 'model.retrain.cmd')).map((m) => retrainCommandSchema.parse(m.data));
    expect(cmds.find((c) => c.requestId === id), 'the command is in the stream').toMatchObject({ venue: 'binance', symbol: 'BTCUSDT', trigger: 'manual', config: { epochs: 2 } });
  });
});
