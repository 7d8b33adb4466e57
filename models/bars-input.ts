import { readBars, type RowError } from '../market/index.ts';
import { ModelInputError, NonFiniteError } from './errors.ts';
import type { OhlcvBar } from './types.ts';

export type ModelBars = { bars: OhlcvBar[]; warnings: string[] };

function describe(r: RowError): string {
  return `${r.file}:${r.line} ${r.field}: ${r.message}`;
}

/**
 * Reads a bars file (.csv / .jsonl) for training or inference, in time order.
 * Rejected rows would leave holes in the series, so they fail the read unless
 * `skipBadRows`: a cell that is not a finite number (NaN, Infinity, text) is a
 * NonFiniteError, any other rejected row a ModelInputError; both name file, line and field.
 */
export async function readModelBars(path: string, options: { symbol?: string | undefined; skipBadRows?: boolean } = {}): Promise<ModelBars> {
  const { bars, rejected } = await readBars(path, options.symbol === undefined ? {} : { symbol: options.symbol });
  const warnings: string[] = [];
  if (rejected.length > 0) {
    const first = rejected.slice(0, 3).map(describe).join('; ');
    const more = rejected.length > 3 ? ` (and ${rejected.length - 3} more)` : '';
    if (!options.skipBadRows) {
      const nonFinite = rejected.find((r) => /not a finite number/.test(r.message));
      const hint = `; fix the file or pass --skip-bad-rows`;
      if (nonFinite) {
        const message = `${rejected.length} bad row(s) in ${path}, e.g. non-finite ${describe(nonFinite)}${hint}`;
        throw new NonFiniteError(nonFinite.field, nonFinite.line, undefined, Number.NaN, message);
      }
      throw new ModelInputError(`${rejected.length} bad row(s) in ${path}: ${first}${more}${hint}`);
    }
    warnings.push(`${rejected.length} bad row(s) skipped in ${path}, leaving gaps in the series: ${first}${more}`);
  }
  let sorted = true;
  for (let i = 1; i < bars.length; i += 1) {
    if ((bars[i]?.ts ?? 0) <= (bars[i - 1]?.ts ?? 0)) {
      sorted = false;
      break;
    }
  }
  if (!sorted) {
    bars.sort((a, b) => a.ts - b.ts);
    warnings.push(`${path} was not in time order; bars were sorted by timestamp`);
  }
  return { bars, warnings };
}
