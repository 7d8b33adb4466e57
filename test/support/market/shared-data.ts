import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';

/**
 * Real market data (see ../shared/data/README.md beside the checkout): read, never
 * copied into the repository (its licences are unstated). `SHARED_DATA_DIR` points at
 * another copy. A clone without it skips exactly the tests that need it, with the
 * reason; CI sets `REQUIRE_REAL_DATA=true`, so there a missing file fails instead.
 */
export const SHARED_DATA_DIR = process.env.SHARED_DATA_DIR ?? fileURLToPath(new URL('../../../../shared/data/', import.meta.url));

export const sharedData = (file: string): string => join(SHARED_DATA_DIR, file);

export const BTCUSDT_CSV = sharedData('btcusdt_binance_spot_1m_2024-03.csv');
export const DAILY_CSV = sharedData('daily_us_equities_and_sp500_2019_2020.csv');

/** Why the real-data tests cannot run here, or undefined when they can. */
export const missingRealData: string | undefined = [BTCUSDT_CSV, DAILY_CSV].every((f) => existsSync(f))
  ? undefined
  : `real market data not found in ${SHARED_DATA_DIR} (set SHARED_DATA_DIR to the folder holding ${BTCUSDT_CSV.split('/').at(-1)})`;

if (missingRealData !== undefined && process.env.REQUIRE_REAL_DATA === 'true') throw new Error(missingRealData);

/** `describe` for a block that reads the real data: skipped, with the reason in its name, when the data is absent. */
export const describeRealData = (name: string, fn: () => void): void => {
  if (missingRealData === undefined) describe(name, fn);
  else describe.skip(`${name} [skipped: ${missingRealData}]`, fn);
};
