// The dashboard page: loads the overview and the selected symbol's history, then
// follows the system live over server-sent events. Everything it keeps is bounded.
import { linesChart, priceChart } from './charts.js';
import { iso, renderAlerts, renderEvents, renderForecast, renderHealth, renderSymbols, renderTimeline } from './panels.js';
import { componentLabels, rollingScores } from './scores.js';
import { pushNewest, TimeStore } from './series.js';

const MAX_POINTS = 1440;
const MAX_LIST = 200;
const MINUTE = 60_000;

const $ = (sel) => document.querySelector(sel);
const state = {
  symbols: [],
  selected: new URLSearchParams(location.search).get('symbol') ?? localStorage.getItem('signals.symbol') ?? undefined,
  horizon: localStorage.getItem('signals.horizon') ?? '15m',
  bars: new TimeStore(MAX_POINTS),
  preds: new TimeStore(MAX_POINTS),
  // A challenger's forecasts in shadow (live only: they are not stored in the database).
  shadow: new TimeStore(MAX_POINTS),
  gaps: new Map(),
  quality: new Map(),
  timeline: [],
  alerts: [],
  health: undefined,
  actions: false,
  source: undefined,
  connected: false,
  lastPrediction: undefined,
};

const charts = {
  price: priceChart($('#price')),
  pup: linesChart($('#pup'), { scale: { scaleMargins: { top: 0.1, bottom: 0.1 } } }),
  vol: linesChart($('#vol'), { format: (v) => `${(v * 1e4).toFixed(1)} bp` }),
  weights: linesChart($('#weights')),
  scores: linesChart($('#scores'), { format: (v) => v.toFixed(3) }),
  calib: linesChart($('#calib'), { format: (v) => v.toFixed(2) }),
};

function setConnection(ok, text) {
  state.connected = ok;
  const c = $('#conn');
  c.textContent = text;
  c.className = `conn ${ok ? 'good' : 'bad'}`;
  document.body.dataset.connection = ok ? 'live' : 'reconnecting';
}

// ---- rendering -------------------------------------------------------------

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    renderSelected();
  }, 250);
}

function gapMarkers(bars) {
  const times = bars.map((b) => b.ts);
  const snap = (ts) => times.find((t) => t >= ts) ?? times[times.length - 1];
  const out = [];
  for (const g of state.gaps.values()) {
    const at = snap(g.from);
    if (at === undefined) continue;
    const color = g.status === 'filled' ? '#06d6a0' : g.status === 'unfillable' ? '#ef5350' : '#ffd166';
    out.push({ ts: at, position: 'aboveBar', shape: 'arrowDown', color, text: `gap ${g.bars} ${g.status}`, kind: 'gap' });
  }
  for (const q of state.quality.values()) {
    const at = snap(q.ts);
    if (at === undefined) continue;
    out.push({ ts: at, position: 'belowBar', shape: q.state === 'healthy' ? 'circle' : 'square', color: q.state === 'quarantined' ? '#ef5350' : q.state === 'degraded' ? '#ff8c42' : '#06d6a0', text: q.state, kind: 'quality' });
  }
  return out.sort((a, b) => a.ts - b.ts);
}

function renderSelected() {
  const bars = state.bars.values();
  // A challenger in shadow is scored beside the components of the bar it forecast.
  const preds = state.preds.values().map((x) => {
    const sh = state.shadow.get(x.ts);
    return sh ? { ...x, components: [...x.components, { role: 'shadow', version: sh.version, weight: 0, value: sh.value, horizons: sh.horizons }] } : x;
  });
  const closes = new Map(bars.map((b) => [b.ts, b.close]));
  const h = state.horizon;
  // The 1-minute 90 % band, drawn at the bar it is about.
  const band = [];
  for (const p of preds) {
    const f = p.horizons?.['1m'];
    const c = closes.get(p.ts);
    if (f && c !== undefined) band.push({ ts: p.ts + MINUTE, lo: c * Math.exp(f.q05), hi: c * Math.exp(f.q95) });
  }
  // The fan of the last prediction, ahead of its bar.
  const last = state.lastPrediction;
  const fan = {};
  // The fast lane can publish a prediction before its bar arrives: anchor on the newest bar until it does.
  const lastClose = last ? (closes.get(last.ts) ?? bars[bars.length - 1]?.close) : undefined;
  if (last?.horizons && lastClose !== undefined) {
    const hs = Object.entries(last.horizons).sort((a, b) => Number.parseInt(a[0], 10) - Number.parseInt(b[0], 10));
    for (const q of ['q05', 'q25', 'q50', 'q75', 'q95']) fan[q] = [{ ts: last.ts, price: lastClose }, ...hs.map(([k, f]) => ({ ts: last.ts + Number.parseInt(k, 10) * MINUTE, price: lastClose * Math.exp(f[q]) }))];
  }
  const markers = gapMarkers(bars);
  charts.price.set(bars, band, fan, markers);
  const p = $('#price');
  p.dataset.candles = String(bars.length);
  p.dataset.bandPoints = String(band.length);
  p.dataset.fanHorizons = String(last?.horizons ? Object.keys(last.horizons).length : 0);
  p.dataset.markers = String(markers.length);
  p.dataset.gapMarkers = String(markers.filter((m) => m.kind === 'gap').length);
  p.dataset.qualityMarkers = markers.filter((m) => m.kind === 'quality').map((m) => m.text).join(',');
  // Where each marker sits (bar open time, epoch ms): what a reader of the page, and its tests, can check.
  p.dataset.markerTimes = JSON.stringify(markers.map((m) => ({ kind: m.kind, text: m.text, ts: m.ts })));

  // pUp of 1m and of the chosen horizon, at the bar they were made after.
  charts.pup.set({
    'pUp 1m': preds.map((x) => ({ ts: x.ts, value: x.horizons?.['1m']?.pUp ?? x.pUp })),
    ...(h !== '1m' ? { [`pUp ${h}`]: preds.filter((x) => x.horizons?.[h]).map((x) => ({ ts: x.ts, value: x.horizons[h].pUp })) } : {}),
  });
  const { points, vol } = rollingScores(preds, closes, h);
  charts.vol.set({ [`forecast σ ${h}`]: vol.map((v) => ({ ts: v.time, value: v.forecast })), [`realised ${h}`]: vol.map((v) => ({ ts: v.time, value: v.realised })) });
  // Weights per component: the return and volatility families of the chosen horizon.
  const w = {};
  for (const x of preds) {
    const labels = componentLabels(x.components);
    x.components.forEach((c, i) => {
      if (c.role === 'shadow') return;
      const ch = c.horizons?.[h];
      const rw = ch?.returnWeight ?? (h === '1m' ? c.weight : undefined);
      if (rw !== undefined) (w[`${labels[i]} ret`] ??= []).push({ ts: x.ts, value: rw });
      if (ch?.volatilityWeight !== undefined) (w[`${labels[i]} vol`] ??= []).push({ ts: x.ts, value: ch.volatilityWeight });
    });
  }
  charts.weights.set(w);
  const q = {};
  for (const pt of points) for (const [k, v] of Object.entries(pt.qlike)) (q[k] ??= []).push({ ts: pt.time, value: v });
  charts.scores.set(q);
  charts.calib.set({
    'hit rate': points.filter((x) => x.hitRate !== null).map((x) => ({ ts: x.time, value: x.hitRate })),
    Brier: points.filter((x) => x.brier !== null).map((x) => ({ ts: x.time, value: x.brier })),
    'cover 90%': points.filter((x) => x.coverage90 !== null).map((x) => ({ ts: x.time, value: x.coverage90 })),
    'cover 50%': points.filter((x) => x.coverage50 !== null).map((x) => ({ ts: x.time, value: x.coverage50 })),
  });
  const lastPoint = points[points.length - 1];
  $('#score-summary').textContent = lastPoint
    ? `last ${lastPoint.n} outcomes at ${h}: QLIKE ${Object.entries(lastPoint.qlike).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(' · ')}`
    : `no realised ${h} outcome yet`;
  renderForecast($('#last-forecast'), last, lastClose);
  const items = [
    ...[...state.gaps.values()].map((g) => ({ ts: g.from, kind: 'gap', label: `gap ${g.status}`, cls: g.status === 'filled' ? 'good' : g.status === 'unfillable' ? 'bad' : 'warn', detail: `${g.bars} bars ${iso(g.from)} – ${iso(g.to)}${g.method ? ` · ${g.method}` : ''}` })),
    ...[...state.quality.values()].map((x) => ({ ts: x.ts, kind: 'quality', label: x.state, cls: x.state === 'quarantined' ? 'bad' : x.state === 'degraded' ? 'warn' : 'good', detail: x.detail })),
  ].sort((a, b) => b.ts - a.ts).slice(0, MAX_LIST);
  renderEvents($('#events'), items);
  $('#title').textContent = state.selected ? `${state.selected} · ${bars.length} bars · ${preds.length} predictions` : 'no symbol selected';
  $('#horizon-label').textContent = h;
}

function renderBoard() {
  renderSymbols($('#symbols tbody'), state.symbols, state.selected, select);
  $('#symbol-count').textContent = String(state.symbols.length);
}

// ---- data ------------------------------------------------------------------

function addPrediction(p) {
  state.preds.set(p.ts, p);
  if (!state.lastPrediction || p.ts >= state.lastPrediction.ts) state.lastPrediction = p;
}

function addGap(g) {
  const prev = state.gaps.get(g.id);
  if (prev && prev.rank > g.rank) return;
  state.gaps.set(g.id, g);
  if (state.gaps.size > MAX_LIST) state.gaps.delete(state.gaps.keys().next().value);
}

const GAP_RANK = { open: 0, detected: 0, filling: 1, filled: 2, unfillable: 2 };

function addQuality(ts, st, detail) {
  state.quality.set(`${ts}:${st}`, { ts, state: st, detail });
  if (state.quality.size > MAX_LIST) state.quality.delete(state.quality.keys().next().value);
}

async function loadHistory(key) {
  const r = await fetch(`/api/history?symbol=${encodeURIComponent(key)}`);
  if (!r.ok) throw new Error(`history: ${r.status}`);
  const hst = await r.json();
  if (key !== state.selected) return;
  for (const b of hst.bars) state.bars.set(b.ts, b);
  for (const p of hst.predictions) addPrediction(p);
  for (const g of hst.gaps) addGap({ id: g.id, from: g.from, to: g.to, bars: Math.round((g.to - g.from) / MINUTE) + 1, status: g.status, method: g.method, rank: GAP_RANK[g.status] ?? 0 });
  for (const q of hst.quality) addQuality(q.windowTo, q.state, q.findings.map((f) => `${f.kind}: ${f.detail}`).join('; ') || q.state);
}

function select(key) {
  if (key === state.selected && state.source) return;
  state.selected = key;
  localStorage.setItem('signals.symbol', key);
  state.bars.clear();
  state.preds.clear();
  state.shadow.clear();
  state.gaps.clear();
  state.quality.clear();
  state.lastPrediction = undefined;
  for (const c of Object.values(charts)) c.reset();
  renderBoard();
  loadHistory(key)
    .then(scheduleRender)
    .catch((err) => console.error(err));
  connect();
}

function connect() {
  state.source?.close();
  const src = new EventSource(`/api/live${state.selected ? `?symbol=${encodeURIComponent(state.selected)}` : ''}`);
  state.source = src;
  let wasDown = false;
  src.onopen = () => {
    setConnection(true, 'live');
    // Back after the system restarted: what happened meanwhile is in the database.
    if (wasDown && state.selected) {
      loadHistory(state.selected)
        .then(scheduleRender)
        .catch((err) => console.error(err));
    }
    wasDown = false;
  };
  src.onerror = () => {
    wasDown = true;
    setConnection(false, 'reconnecting…');
  };
  const on = (name, fn) => src.addEventListener(name, (ev) => fn(JSON.parse(ev.data)));
  on('board', (rows) => {
    state.symbols = rows;
    if (!state.selected && rows.length > 0) select(`${rows[0].venue}.${rows[0].symbol}`);
    renderBoard();
  });
  on('health', (h) => {
    state.health = h;
    renderHealth($('#health'), h, `${state.symbols.length} symbols`);
  });
  on('bar', (b) => {
    state.bars.set(b.ts, b);
    scheduleRender();
  });
  on('prediction', (p) => {
    addPrediction(p);
    // The table of the last forecast is written at once; the charts follow within a quarter second.
    renderForecast($('#last-forecast'), state.lastPrediction, state.bars.get(state.lastPrediction.ts)?.close ?? state.bars.last()?.close);
    scheduleRender();
  });
  on('gap', (g) => {
    if (`${g.venue}.${g.symbol}` !== state.selected) return;
    const status = g.type === 'gap.detected' ? 'open' : g.type === 'gap.filled' ? 'filled' : 'unfillable';
    addGap({ id: g.gapId, from: g.from, to: g.to, bars: g.bars, status, method: g.method ?? null, rank: GAP_RANK[status] });
    scheduleRender();
  });
  on('quality', (q) => {
    if (`${q.venue}.${q.symbol}` !== state.selected) return;
    if (q.type === 'quality.state_changed') addQuality(q.windowTo, q.to, q.reason);
    else if (q.state !== 'healthy') addQuality(q.windowTo, q.state, q.findings.map((f) => `${f.kind}: ${f.detail}`).join('; ') || q.state);
    scheduleRender();
  });
  on('model', (e) => {
    pushNewest(state.timeline, e, MAX_LIST);
    renderTimeline($('#timeline'), state.timeline);
  });
  on('alert', (a) => {
    pushNewest(state.alerts, a, MAX_LIST);
    renderAlerts($('#alerts'), state.alerts);
  });
  on('shadow', (x) => {
    state.shadow.set(x.ts, x);
    scheduleRender();
  });
  on('active', () => undefined);
  on('weights', () => undefined);
}

// ---- operator actions --------------------------------------------------------

async function act(action, body, question) {
  if (!confirm(question)) return;
  const r = await fetch(`/api/actions/${action}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const reply = await r.json();
  $('#action-result').textContent = r.ok ? `${action}: ${JSON.stringify(reply)}` : `${action} refused: ${reply.error}`;
}

function setupActions() {
  const box = $('#actions');
  box.hidden = !state.actions;
  if (!state.actions) return;
  $('#act-retrain').onclick = () => {
    if (!state.selected) return;
    const [venue, symbol] = state.selected.split('.');
    void act('retrain', { venue, symbol }, `Retrain ${state.selected} now?`);
  };
  for (const role of ['pretrained', 'online']) {
    $(`#act-rollback-${role}`).onclick = () => {
      const row = state.symbols.find((r) => `${r.venue}.${r.symbol}` === state.selected);
      const key = row?.versions.key;
      const scope = key === 'default' || !key ? 'global' : key;
      void act('rollback', { scope, role }, `Roll back the ${role} model of ${scope} to its previous version?`);
    };
  }
}

// ---- start -------------------------------------------------------------------

for (const b of document.querySelectorAll('#horizons button')) {
  b.addEventListener('click', () => {
    state.horizon = b.dataset.h;
    localStorage.setItem('signals.horizon', state.horizon);
    for (const x of document.querySelectorAll('#horizons button')) x.classList.toggle('on', x === b);
    charts.vol.reset();
    charts.weights.reset();
    charts.scores.reset();
    charts.calib.reset();
    scheduleRender();
  });
  b.classList.toggle('on', b.dataset.h === state.horizon);
}

setInterval(renderBoard, 5_000);

fetch('/api/overview')
  .then((r) => r.json())
  .then((o) => {
    state.symbols = o.symbols;
    state.actions = o.actions;
    state.timeline = [...o.modelEvents].reverse();
    state.alerts = [...o.alerts].reverse();
    $('#history-hours').textContent = `${o.historyHours} h`;
    renderTimeline($('#timeline'), state.timeline);
    renderAlerts($('#alerts'), state.alerts);
    renderHealth($('#health'), o.health ?? undefined, `${o.symbols.length} symbols`);
    setupActions();
    renderBoard();
    const known = state.symbols.map((r) => `${r.venue}.${r.symbol}`);
    if (state.selected && !known.includes(state.selected) && known.length > 0) state.selected = known[0];
    if (!state.selected && known.length > 0) state.selected = known[0];
    if (state.selected) {
      const key = state.selected;
      state.selected = undefined;
      select(key);
    } else {
      connect();
    }
  })
  .catch((err) => {
    setConnection(false, `cannot load: ${err.message}`);
    connect();
  });

