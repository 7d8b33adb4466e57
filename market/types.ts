/**
 * Contracts of market/: one bar as read from a bars file, and why a row of such a
 * file was rejected.
 */

/** One bar of a bars file. `ts` is the bar's OPEN time in epoch milliseconds (UTC). */
export type BarRow = {
  ts: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume: number;
  /** Number of trades in the bar, when the file has a `trades` column. */
  trades?: number;
  /** The row's symbol, when the file has a `symbol` column (long format). */
  symbol?: string;
};

/** A rejected row: which file, which 1-based physical line, which field, and why. */
export type RowError = { file: string; line: number; field: string; message: string };

/** What a bars-file reader returns: the good rows in file order, and every rejected row. */
export type BarsReadResult = { bars: BarRow[]; rejected: RowError[] };

/** Options of the bars-file readers. */
export type ReadBarsOptions = {
  /**
   * Keep only the rows of this symbol (long-format files with a `symbol` column).
   * Ignored when the file has no symbol column: such a file holds one instrument.
   */
  symbol?: string;
  /** Reject rows whose timestamp is not on a whole minute (files replayed as 1-minute bars). */
  wholeMinutes?: boolean;
};
