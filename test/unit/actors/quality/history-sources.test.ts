import { describe, expect, it } from 'vitest';
import { loadSettings } from '../../../../config/index.ts';
import { composeHistory, parseQualitySettings, QualitySettingsError, type HistoryBar, type HistoryProvider } from '../../../../actors/quality/index.ts';

const bar = (ts: number, close: number): HistoryBar => ({ ts, open: close, high: close, low: close, close, volume: 1 });
const source = (name: string, rows: HistoryBar[]): HistoryProvider => ({ name, fetchBars: async (_v, _s, from, to) => rows.filter((b) => b.ts >= from && b.ts <= to) });

describe('history sources', () => {
  it('asks several sources in order: the first that has a minute gives it, the others fill the rest', async () => {
    const csv = source('csv:/h', [bar(60_000, 1), bar(120_000, 1)]);
    const db = source('db:x', [bar(120_000, 2), bar(180_000, 2)]);
    const both = composeHistory([csv, db]);
    expect(both.name).toBe('csv:/h+db:x');
    const got = await both.fetchBars('v', 's', 0, 600_000);
    expect(got.map((b) => [b.ts, b.close])).toEqual([
      [60_000, 1],
      [120_000, 1],
      [180_000, 2],
    ]);
    expect(composeHistory([csv]), 'one source is itself').toBe(csv);
  });

  it('reads QUALITY_HISTORY_VENUES as venue=sourceVenue pairs and QUALITY_HISTORY_DAYS, and names a bad pair', () => {
    const q = parseQualitySettings(loadSettings({ QUALITY_HISTORY_VENUES: 'binance=binance_us, sim=archive', QUALITY_HISTORY_DAYS: '3' }));
    expect(q.historyVenues).toEqual({ binance: 'binance_us', sim: 'archive' });
    expect(q.historyDays).toBe(3);
    expect(parseQualitySettings(loadSettings({})).historyDays, 'default: two days').toBe(2);
    expect(() => parseQualitySettings(loadSettings({ QUALITY_HISTORY_VENUES: 'binance' }))).toThrow(QualitySettingsError);
    expect(() => parseQualitySettings(loadSettings({ QUALITY_HISTORY_VENUES: 'a=a' }))).toThrow(/QUALITY_HISTORY_VENUES: "a=a"/);
  });
});
