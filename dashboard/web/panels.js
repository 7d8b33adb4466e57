// The page's lists and tables, written with textContent (never innerHTML with data).

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-') || k === 'title') e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

export const iso = (ms) => new Date(ms).toISOString().slice(0, 16).replace('T', ' ');
export const clock = (ms) => new Date(ms).toISOString().slice(11, 19);
export const bps = (x) => (x === undefined || x === null ? '–' : `${(x * 1e4).toFixed(1)}`);

export function age(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function versionsText(v) {
  const pre = Object.entries(v.pretrained).map(([regime, ver]) => `${regime}: ${ver}`);
  return `${pre.length > 0 ? pre.join(', ') : 'no pretrained'} · online: ${v.online ?? '–'}`;
}

function rolloutText(r) {
  if (!r) return '';
  if (r.stage === 'shadow') return `shadow ${r.version} vs ${r.champion}`;
  return `canary ${r.version} ${r.servesThisSymbol ? 'serves this symbol' : `(${r.champion} serves this one)`}`;
}

/** The symbol list; `onSelect(key)` when a row is clicked. */
export function renderSymbols(tbody, rows, selected, onSelect, now = Date.now()) {
  tbody.replaceChildren(
    ...rows.map((r) => {
      const key = `${r.venue}.${r.symbol}`;
      const warm = r.prediction === 'warming_up' ? `warming up ${r.bars}/${r.barsNeeded}` : r.prediction;
      const pct = r.prediction === 'warming_up' && r.barsNeeded > 0 ? Math.min(100, Math.round((100 * r.bars) / r.barsNeeded)) : 100;
      const tr = el(
        'tr',
        { class: key === selected ? 'selected' : '', 'data-symbol': key, 'data-quality': r.quality, title: versionsText(r.versions) },
        el('td', { class: 'sym' }, r.symbol, el('span', { class: 'venue' }, r.venue)),
        el('td', {}, el('span', { class: `badge q-${r.quality}` }, r.quality)),
        el('td', {}, el('div', { class: 'warm', title: warm }, el('div', { class: 'warm-bar', style: `width:${pct}%` })), el('span', { class: 'small' }, warm)),
        el('td', { class: 'small mono', 'data-role': 'versions' }, versionsText(r.versions), ...(r.versions.rollout ? [el('div', { class: `badge info`, 'data-role': 'rollout', 'data-stage': r.versions.rollout.stage }, rolloutText(r.versions.rollout))] : [])),
        el('td', { class: 'small', 'data-role': 'age' }, age(r.lastPredictionAt, now)),
      );
      tr.addEventListener('click', () => onSelect(key));
      return tr;
    }),
  );
}

export function renderHealth(root, h, clientInfo) {
  const chip = (id, label, value, cls = '') => {
    const c = root.querySelector(`#${id}`);
    c.replaceChildren(el('span', { class: 'k' }, label), el('span', { class: `v ${cls}` }, value));
  };
  if (!h || h.system === 'down') {
    chip('h-phase', 'system', 'not answering', 'bad');
    chip('h-ingest', 'ingest', '–');
    chip('h-lag', 'lag', h ? String(h.lag.reduce((s, l) => s + l.pending, 0)) : '–');
    chip('h-loop', 'event loop p99', '–');
    chip('h-quality', 'quality', '–');
    chip('h-preds', 'predictions', '–');
    return;
  }
  const lag = h.lag.reduce((s, l) => s + l.pending, 0);
  chip('h-phase', 'phase', h.phase ?? '–', h.phase?.startsWith('running') ? 'good' : 'warn');
  chip('h-ingest', 'ingest', h.ingest?.ticksPerSecond === null || !h.ingest ? `${h.ingest?.stored ?? 0} ticks` : `${Math.round(h.ingest.ticksPerSecond)} ticks/s`);
  chip('h-lag', 'lag', String(lag), lag > 10_000 ? 'warn' : '');
  chip('h-loop', 'event loop p99', `${h.eventLoop?.p99Ms.toFixed(1) ?? '–'} ms`, (h.eventLoop?.p99Ms ?? 0) > 100 ? 'warn' : '');
  chip('h-quality', 'quality', h.quality ? `${h.quality.healthy} ok · ${h.quality.degraded} degraded · ${h.quality.quarantined} quarantined` : '–', (h.quality?.quarantined ?? 0) > 0 ? 'bad' : '');
  chip('h-preds', 'predictions', String(h.predictions ?? 0));
  root.querySelector('#h-clients').textContent = clientInfo;
}

/** The last forecast of every horizon, as returns (bps) and as prices. */
export function renderForecast(root, p, close) {
  root.dataset.ts = p ? String(p.ts) : '';
  root.dataset.createdAt = p ? String(p.createdAt) : '';
  const head = root.querySelector('.fc-head');
  const tbody = root.querySelector('tbody');
  if (!p) {
    head.textContent = 'no prediction yet';
    tbody.replaceChildren();
    return;
  }
  head.textContent = `after the bar of ${iso(p.ts)} · regime ${p.regime} · confidence ${p.confidence.toFixed(2)} · ${p.quality}`;
  const price = (q) => (close === undefined ? '–' : (close * Math.exp(q)).toPrecision(7));
  tbody.replaceChildren(
    ...Object.entries(p.horizons ?? { '1m': { value: p.value, pUp: p.pUp, sigma: p.sigma ?? 0, q05: 0, q25: 0, q50: 0, q75: 0, q95: 0 } }).map(([h, f]) =>
      el('tr', { 'data-horizon': h }, el('td', {}, h), el('td', {}, bps(f.value)), el('td', {}, f.pUp.toFixed(3)), el('td', {}, bps(f.sigma)), el('td', {}, price(f.q05)), el('td', {}, price(f.q50)), el('td', {}, price(f.q95))),
    ),
  );
}

const KIND_CLASS = { deployed: 'good', promoted: 'good', rejected: 'warn', rolledback: 'bad', verification_failed: 'bad', retrain_failed: 'bad', withdrawn: 'warn', retired: '', shadow_started: 'info', canary_started: 'info' };

/** The model timeline, newest first. */
export function renderTimeline(list, events) {
  list.replaceChildren(
    ...events.map((e) =>
      el(
        'li',
        { 'data-kind': e.kind, 'data-version': e.version },
        el('span', { class: 'time' }, iso(e.at)),
        el('span', { class: `badge ${KIND_CLASS[e.kind] ?? ''}` }, e.kind),
        el('span', { class: 'mono' }, `${e.scope} ${e.role}${e.regime ? ` (${e.regime})` : ''}: ${e.from ? `${e.from} → ` : ''}${e.version}`),
        el('span', { class: 'small' }, `${e.actor}${e.stage ? ` · ${e.stage}` : ''}${e.reasons.length > 0 ? ` — ${e.reasons.join('; ')}` : ''}`),
      ),
    ),
  );
}

export function renderAlerts(list, alerts) {
  list.replaceChildren(
    ...alerts.map((a) =>
      el('li', { 'data-kind': a.kind }, el('span', { class: 'time' }, clock(a.at)), el('span', { class: `badge ${a.severity === 'critical' ? 'bad' : 'warn'}` }, a.kind), el('span', { class: 'small' }, a.message)),
    ),
  );
}

/** Gaps and quality findings of the selected symbol, newest first. */
export function renderEvents(list, items) {
  list.replaceChildren(...items.map((i) => el('li', { 'data-kind': i.kind }, el('span', { class: 'time' }, iso(i.ts)), el('span', { class: `badge ${i.cls}` }, i.label), el('span', { class: 'small' }, i.detail))));
}
