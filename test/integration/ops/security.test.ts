import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRootLogger, loadSettings, redactUrl } from '../../../config/index.ts';
import { connectNats } from '../../../streams/index.ts';
import { NatsServer } from '../../helpers/nats-server.ts';

const USER = 'signals';
const PASS = 'n4ts-s3cret-pass';
const TOKEN = 't0ken-f0r-nats-only';
const DB_PASS = 'pg-Secr3t-W0rd';

/** A pino destination that keeps every line written to it. */
function capture(): { stream: Writable; text(): string } {
  const chunks: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk.toString());
        cb();
      },
    }),
    text: () => chunks.join(''),
  };
}

describe('NATS authentication through connectNats (settings NATS_USER/NATS_PASS, NATS_TOKEN)', () => {
  let userServer: NatsServer;
  let tokenServer: NatsServer;

  beforeAll(async () => {
    [userServer, tokenServer] = await Promise.all([NatsServer.start(['--user', USER, '--pass', PASS]), NatsServer.start(['--auth', TOKEN])]);
  });
  afterAll(async () => {
    await Promise.all([userServer?.dispose(), tokenServer?.dispose()]);
  });

  // connectNats reconnects forever once connected; the first connect still fails fast on bad credentials.
  const settings = (url: string, extra: Record<string, string>) => loadSettings({}, { NATS_URL: url, ...extra });

  it('connects with the configured user and password, and can use JetStream', async () => {
    const nc = await connectNats(settings(userServer.url, { NATS_USER: USER, NATS_PASS: PASS }), 'test-user-pass');
    try {
      expect(await nc.rtt(), 'an authenticated round trip').toBeGreaterThanOrEqual(0);
      const sub = nc.subscribe('auth.check', { max: 1 });
      nc.publish('auth.check', 'hello');
      for await (const m of sub) expect(m.string()).toBe('hello');
    } finally {
      await nc.close();
    }
  });

  it('is refused with a wrong password or no credentials', async () => {
    await expect(connectNats(settings(userServer.url, { NATS_USER: USER, NATS_PASS: 'wrong' }), 'test-bad-pass'), 'wrong password must be refused').rejects.toThrow(/authorization/i);
    await expect(connectNats(settings(userServer.url, {}), 'test-no-creds'), 'no credentials must be refused').rejects.toThrow(/authorization/i);
  });

  it('connects with the configured token and is refused with another', async () => {
    const nc = await connectNats(settings(tokenServer.url, { NATS_TOKEN: TOKEN }), 'test-token');
    expect(await nc.rtt()).toBeGreaterThanOrEqual(0);
    await nc.close();
    await expect(connectNats(settings(tokenServer.url, { NATS_TOKEN: 'not-the-token' }), 'test-bad-token'), 'a wrong token must be refused').rejects.toThrow(/authorization/i);
  });
});

describe('credentials never reach the logs', () => {
  const env = {
    DATABASE_URL: `postgresql://signals:${DB_PASS}@db.example:5432/signals`,
    NATS_URL: 'nats://127.0.0.1:4222',
    NATS_USER: USER,
    NATS_PASS: PASS,
    NATS_TOKEN: TOKEN,
  };

  it('redacts passwords and tokens when the settings object is logged, whole or as a field', () => {
    const out = capture();
    const log = createRootLogger('info', out.stream);
    const settings = loadSettings({}, env);
    log.info(settings, 'settings at top level');
    log.info({ settings }, 'settings nested');
    log.child({ actor: 'x' }).warn({ db: { databaseUrl: settings.DATABASE_URL, password: DB_PASS } }, 'a connection config');
    const text = out.text();
    expect(text.split('\n').filter(Boolean), 'three log lines written').toHaveLength(3);
    for (const secret of [DB_PASS, PASS, TOKEN]) expect(text, `secret ${secret} must not appear in the logs`).not.toContain(secret);
    expect(text, 'the non-secret settings stay readable').toContain('"INGEST_DURABLE":"market_sync"');
    expect(text.match(/\[redacted\]/g)?.length, 'each secret field replaced by [redacted]').toBe(8);
  });

  it('redactUrl hides the password of a connection URL and keeps the rest', () => {
    const shown = redactUrl(env.DATABASE_URL);
    expect(shown).not.toContain(DB_PASS);
    expect(shown).toBe('postgresql://signals:***@db.example:5432/signals');
    expect(redactUrl('nats://u:p4ss@h:4222')).not.toContain('p4ss');
  });
});
