import { fileURLToPath } from 'node:url';

/** Real market data beside the checkout (../shared/data, see its README); read, never copied. */
export const sharedData = (file: string): string => fileURLToPath(new URL(`../../../shared/data/${file}`, import.meta.url));

export const BTCUSDT_CSV = sharedData('btcusdt_binance_spot_1m_2024-03.csv');
export const DAILY_CSV = sharedData('daily_us_equities_and_sp500_2019_2020.csv');
