// Scores of the served blend and its components on realised outcomes, computed in
// the page from the bars and predictions it holds (pure functions: the unit tests
// import this module as it is served).

const MINUTE = 60_000;

/** `h` of a horizon key such as "15m". */
export function horizonMinutes(key) {
  return Number.parseInt(key, 10);
}

/** QLIKE loss of a variance forecast `f` for a realised variance `rv` (0 at f = rv). */
export function qlikeLoss(rv, f) {
  const x = rv / f;
  return x - Math.log(x) - 1;
}

/**
 * The realised outcome of a prediction made after the bar opening at `ts`, for `h`
 * minutes: the log return from that bar's close to the close `h` bars later and its
 * realised variance (the sum of squared one-minute log returns). Undefined until
 * every bar of it is there.
 */
export function outcome(closes, ts, h) {
  const c0 = closes.get(ts);
  if (c0 === undefined) return undefined;
  let prev = c0;
  let rv = 0;
  for (let k = 1; k <= h; k += 1) {
    const c = closes.get(ts + k * MINUTE);
    if (c === undefined) return undefined;
    const r = Math.log(c / prev);
    rv += r * r;
    prev = c;
  }
  return { r: Math.log(prev / c0), rv };
}

/** One label per component: its role, with the version when a role appears twice. */
export function componentLabels(components) {
  const seen = new Map();
  for (const c of components) seen.set(c.role, (seen.get(c.role) ?? 0) + 1);
  return components.map((c) => ((seen.get(c.role) ?? 0) > 1 ? `${c.role} ${c.version}` : c.role));
}

/**
 * Rolling scores over the last `window` realised outcomes of horizon `hKey`, one
 * point per outcome at the time it was realised (the target bar's open time):
 * QLIKE of the blend and of every component with a volatility forecast, the hit
 * rate of the sign, the Brier score of pUp, and the coverage of the 50 % and 90 %
 * bands. `vol` pairs each forecast sigma with the realised volatility.
 */
export function rollingScores(predictions, closes, hKey, window = 120) {
  const h = horizonMinutes(hKey);
  const points = [];
  const vol = [];
  const recent = [];
  const sums = { hit: 0, hitN: 0, brier: 0, brierN: 0, c50: 0, c90: 0, bandN: 0 };
  const qsum = new Map();
  const add = (row, sign) => {
    if (row.hit !== undefined) {
      sums.hit += sign * row.hit;
      sums.hitN += sign;
    }
    sums.brier += sign * row.brier;
    sums.brierN += sign;
    if (row.c50 !== undefined) {
      sums.c50 += sign * row.c50;
      sums.c90 += sign * row.c90;
      sums.bandN += sign;
    }
    for (const [k, v] of row.qlike) {
      const s = qsum.get(k) ?? { sum: 0, n: 0 };
      s.sum += sign * v;
      s.n += sign;
      qsum.set(k, s);
    }
  };
  for (const p of predictions) {
    const f = p.horizons?.[hKey];
    if (!f) continue;
    const o = outcome(closes, p.ts, h);
    if (!o) continue;
    const at = p.ts + h * MINUTE;
    const row = {
      hit: o.r === 0 ? undefined : Math.sign(o.r) === Math.sign(f.value) ? 1 : 0,
      brier: (f.pUp - (o.r > 0 ? 1 : 0)) ** 2,
      c50: f.q25 !== undefined ? (o.r >= f.q25 && o.r <= f.q75 ? 1 : 0) : undefined,
      c90: f.q05 !== undefined ? (o.r >= f.q05 && o.r <= f.q95 ? 1 : 0) : undefined,
      qlike: new Map(),
    };
    if (o.rv > 0) {
      if (f.sigma > 0) row.qlike.set('blend', qlikeLoss(o.rv, f.sigma ** 2));
      const labels = componentLabels(p.components);
      p.components.forEach((c, i) => {
        const s = c.horizons?.[hKey]?.sigma;
        if (s !== undefined && s > 0) row.qlike.set(labels[i], qlikeLoss(o.rv, s ** 2));
      });
    }
    vol.push({ time: at, forecast: f.sigma, realised: Math.sqrt(o.rv) });
    recent.push(row);
    add(row, 1);
    if (recent.length > window) add(recent.shift(), -1);
    const qlike = {};
    for (const [k, s] of qsum) if (s.n > 0) qlike[k] = s.sum / s.n;
    points.push({
      time: at,
      n: recent.length,
      qlike,
      hitRate: sums.hitN > 0 ? sums.hit / sums.hitN : null,
      brier: sums.brierN > 0 ? sums.brier / sums.brierN : null,
      coverage50: sums.bandN > 0 ? sums.c50 / sums.bandN : null,
      coverage90: sums.bandN > 0 ? sums.c90 / sums.bandN : null,
    });
  }
  return { points, vol };
}
