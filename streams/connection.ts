import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import type { Settings } from '../config/index.ts';

export type NatsSettings = Pick<
  Settings,
  'NATS_URL' | 'NATS_USER' | 'NATS_PASS' | 'NATS_TOKEN' | 'NATS_CREDS_FILE' | 'NATS_TLS_CA_FILE'
> & Partial<Pick<Settings, 'NATS_ASYNC_TRACES'>>;

/**
 * Connects to NATS with the configured credentials (user/password, token or creds
 * file) and TLS. Reconnects forever: an outage is a degraded state, not a crash.
 */
export async function connectNats(settings: NatsSettings, name: string): Promise<NatsConnection> {
  return connect({
    servers: settings.NATS_URL.split(','),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    noAsyncTraces: !(settings.NATS_ASYNC_TRACES ?? false),
    ...(settings.NATS_USER ? { user: settings.NATS_USER } : {}),
    ...(settings.NATS_PASS ? { pass: settings.NATS_PASS } : {}),
    ...(settings.NATS_TOKEN ? { token: settings.NATS_TOKEN } : {}),
    ...(settings.NATS_CREDS_FILE
      ? { authenticator: credsAuthenticator(readFileSync(settings.NATS_CREDS_FILE)) }
      : {}),
    ...(settings.NATS_TLS_CA_FILE ? { tls: { caFile: settings.NATS_TLS_CA_FILE } } : {}),
  });
}
