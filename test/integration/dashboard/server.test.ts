import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DashboardError, startDashboard, type DashboardHandle } from '../../../dashboard/index.ts';
import { loadSettings } from '../../../config/index.ts';
import { ensureTopology, publishJson } from '../../../streams/index.ts';
import { jetstream } from '@nats-io/jetstream';
import { startTestSystem, type TestSystem } from '../../helpers/system.ts';

const TOKEN = 'a-long-enough-token';

/** Reads server-sent events from `url` until `until` returns true for the events so far (or the time runs out). */
async function readEvents(url: string, headers: Record<string, string>, until: (events: { event: string; data: unknown }[]) => boolean, timeoutMs = 10_000): Promise<{ event: string; data: unknown }[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  const events: { event: string; data: unknown }[] = [];
  try {
    const res = await fetch(url, { headers, signal: ac.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const reader = res.body!.getReader();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += new TextDecoder().decode(value);
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (event && data) events.push({ event, data: JSON.parse(data) as unknown });
      }
      if (until(events)) break;
    }
  } catch (err) {
    if (!ac.signal.aborted) throw err;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return events;
}

describe('the dashboard server', () => {
  let sys: TestSystem;
  let dash: DashboardHandle;
  let base: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    sys = await startTestSystem('dashboard_server');
    await ensureTopology(sys.nc, { maxAgeDays: 1, maxBytesMb: 64, duplicateWindowS: 60 });
    const settings = loadSettings({}, { DASHBOARD_PORT: '0', DASHBOARD_TOKEN: TOKEN, DASHBOARD_ACTIONS: 'true' });
    dash = await startDashboard({ nc: sys.nc, db: sys.db, log: sys.log, settings });
    base = `http://127.0.0.1:${dash.port}`;
  });
  afterAll(async () => {
    await dash?.close();
    await sys?.dispose();
  });

  it('asks for the token, trades it for a cookie, and prints the address with it', async () => {
    expect(dash.url).toBe(`${base}/?token=${TOKEN}`);
    expect((await fetch(`${base}/`)).status).toBe(401);
    expect((await fetch(`${base}/api/overview`, { headers: { authorization: 'Bearer wrong-token-here' } })).status).toBe(401);
    const first = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(first.status).toBe(303);
    const cookie = first.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    const page = await fetch(`${base}/`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/vendor/lightweight-charts.js');
  });

  it('serves the chart library from node_modules, not from a CDN', async () => {
    const res = await fetch(`${base}/vendor/lightweight-charts.js`, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/javascript/);
    expect(await res.text()).toContain('createChart');
    const html = await (await fetch(`${base}/`, { headers: auth })).text();
    expect(html, 'no address outside the dashboard').not.toMatch(/https?:\/\//);
  });

  it('refuses a symbol that is not <venue>.<symbol> tokens', async () => {
    for (const bad of ['x', 'a.b.c', 'a.b*', '.b']) {
      const res = await fetch(`${base}/api/history?symbol=${encodeURIComponent(bad)}`, { headers: auth });
      expect(res.status, bad).toBe(400);
    }
  });

  it('streams validated messages: a bar of the shown symbol and every gap; an invalid bar never reaches the page', async () => {
    const js = jetstream(sys.nc);
    const bar = { venue: 'v', symbol: 'S', interval: '1m', ts: Date.UTC(2024, 0, 1), open: 1, high: 2, low: 0.5, close: 1.5, volume: 3, source: 'replay' };
    const gap = { type: 'gap.detected', venue: 'v', symbol: 'OTHER', from: Date.UTC(2024, 0, 1), to: Date.UTC(2024, 0, 1, 0, 4), kind: 'time', bars: 5, gapId: 7 };
    const publish = setTimeout(() => {
      void (async () => {
        await publishJson(js, { subject: 'md.bar.1m.v.S', payload: { ...bar, high: 0.1 }, msgId: 'bad-bar' });
        await publishJson(js, { subject: 'md.bar.1m.v.S', payload: bar, msgId: 'good-bar' });
        await publishJson(js, { subject: 'md.gap.v.OTHER', payload: gap, msgId: 'gap-7' });
      })();
    }, 300);
    const events = await readEvents(`${base}/api/live?symbol=v.S`, auth, (ev) => ev.some((e) => e.event === 'gap'));
    clearTimeout(publish);
    const bars = events.filter((e) => e.event === 'bar').map((e) => e.data as { high: number });
    expect(bars, 'only the valid bar').toEqual([expect.objectContaining({ high: 2 })]);
    expect(events.find((e) => e.event === 'gap')?.data).toMatchObject({ gapId: 7, symbol: 'OTHER' });
    expect(events[0]?.event, 'the symbol list first').toBe('board');
  });

  it('operator actions: validated, same-origin only, through the service endpoints', async () => {
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post('/api/actions/retrain', { venue: 'v', symbol: 'a b' })).status).toBe(400);
    expect((await post('/api/actions/retrain', { venue: 'v', symbol: 'S' }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await post('/api/actions/nothing', {})).status).toBe(404);
    // No system runs here: the request reaches signals.retrain and nobody answers.
    const res = await post('/api/actions/retrain', { venue: 'v', symbol: 'S' });
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: string }).error).toMatch(/signals\.retrain is not available/);
  });

  it('says which setting to change when its port is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const settings = loadSettings({}, { DASHBOARD_PORT: String(port) });
      const err = await startDashboard({ nc: sys.nc, db: sys.db, log: sys.log, settings }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DashboardError);
      expect((err as Error).message).toMatch(/set DASHBOARD_PORT/);
    } finally {
      blocker.close();
    }
  });

  it('bound to loopback, answers only requests addressed to loopback (no DNS rebinding)', async () => {
    const { request } = await import('node:http');
    const status = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const r = request({ host: '127.0.0.1', port: dash.port, path: '/api/overview', headers: { host, ...auth } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        r.on('error', reject);
        r.end();
      });
    expect(await status(`evil.example:${dash.port}`)).toBe(421);
    expect(await status(`localhost:${dash.port}`)).toBe(200);
    expect(await status(`127.0.0.1:${dash.port}`)).toBe(200);
  });

  it('is read-only unless operator actions are enabled', async () => {
    const settings = loadSettings({}, { DASHBOARD_PORT: '0' });
    const ro = await startDashboard({ nc: sys.nc, db: sys.db, log: sys.log, settings });
    try {
      const res = await fetch(`http://127.0.0.1:${ro.port}/api/actions/retrain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"venue":"v","symbol":"S"}' });
      expect(res.status).toBe(403);
      expect(ro.url).toBe(`http://127.0.0.1:${ro.port}/`);
    } finally {
      await ro.close();
    }
  });
});
