import { describe, expect, it } from 'vitest';
import { ConfigError, loadSettings } from '../../../config/index.ts';

describe('configuration', () => {
  it('has documented defaults', () => {
    const s = loadSettings({});
    expect(s.NATS_URL).toBe('nats://127.0.0.1:4222');
    expect(s.INGEST_BATCH_SIZE).toBe(5_000);
    expect(s.ACCEPT_PAST_TICKS).toBe(true);
  });

  it('reads and coerces environment variables; empty means unset', () => {
    const s = loadSettings({ INGEST_BATCH_SIZE: '250', ACCEPT_PAST_TICKS: 'false', LOG_LEVEL: '' });
    expect(s.INGEST_BATCH_SIZE).toBe(250);
    expect(s.ACCEPT_PAST_TICKS).toBe(false);
    expect(s.LOG_LEVEL).toBe('info');
  });

  it('stops with a message naming each invalid variable and what is wrong', () => {
    let error: unknown;
    try {
      loadSettings({ INGEST_BATCH_SIZE: '0', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const msg = (error as ConfigError).message;
    expect(msg).toMatch(/INGEST_BATCH_SIZE: .*>=\s*1.*\(got "0"\)/);
    expect(msg).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(msg).toMatch(/LOG_LEVEL: /);
    expect((error as ConfigError).issues).toHaveLength(3);
  });

  it('takes the retrain schedule as a cron expression (UTC) or off, and refuses anything else', () => {
    expect(loadSettings({}).RETRAIN_SCHEDULE).toBe('0 3 1 * *');
    expect(loadSettings({ RETRAIN_SCHEDULE: 'off' }).RETRAIN_SCHEDULE).toBe('off');
    expect(loadSettings({ RETRAIN_SCHEDULE: '*/30 * * * * *' }).RETRAIN_SCHEDULE).toBe('*/30 * * * * *');
    expect(() => loadSettings({ RETRAIN_SCHEDULE: 'monthly please' })).toThrow(/RETRAIN_SCHEDULE: expected a cron expression .*\(got "monthly please"\)/);
    expect(() => loadSettings({ RETRAIN_SCHEDULE: '61 3 1 * *' })).toThrow(/RETRAIN_SCHEDULE/);
  });
});
