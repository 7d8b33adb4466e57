import { describe, expect, it } from 'vitest';
import { shouldRun } from '../../../../actors/lifecycle/retrain-commands.ts';
import { safeJson } from '../../../../actors/lifecycle/safe-json.ts';

describe('retrain commands', () => {
  it('runs a new command, and a redelivered one only while its run is unfinished', () => {
    expect(shouldRun(true, undefined), 'a new request').toBe(true);
    expect(shouldRun(false, 'queued'), 'accepted before a crash, never started').toBe(true);
    expect(shouldRun(false, 'running'), 'interrupted mid-run').toBe(true);
    for (const done of ['succeeded', 'failed', 'skipped'] as const) expect(shouldRun(false, done), `${done}: not run twice`).toBe(false);
    expect(shouldRun(false, undefined), 'the row vanished between insert and read').toBe(false);
  });

  it('reads what it can of a body: JSON, else undefined', () => {
    expect(safeJson(new TextEncoder().encode('{"requestId":"r-1"}'))).toEqual({ requestId: 'r-1' });
    expect(safeJson(new TextEncoder().encode('{"requestId":'))).toBeUndefined();
    expect(safeJson(Uint8Array.of(0xff, 0xfe)), 'not text').toBeUndefined();
  });
});
