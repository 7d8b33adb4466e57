import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createRootLogger, loadSettings, type Logger } from '../config/index.ts';
import { isToken, textProblem, type Speed } from '../streams/index.ts';
import { UsageError } from './errors.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

/*
 * What every command shares: the command type, the flag parsers and the CLI logger.
 */

/** One `signals <name>` command. `run` resolves to the exit code. */
export type CliCommand = {
  name: string;
  summary: string;
  /** Full help text printed by `signals <name> --help`. */
  usage: string;
  run(argv: string[]): Promise<number>;
};

/**
 * parseArgs with strict checking; unknown flags become a UsageError naming them.
 * Every value must be well-formed text (no lone UTF-16 surrogate, no NUL; see
 * `textProblem`): such a value would reach a subject, a message, a path or the
 * database changed or not at all, so it is a usage error here.
 */
export function parseFlags<O extends OptionSpec>(argv: string[], options: O, allowPositionals = false) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const [flag, value] of Object.entries(parsed.values as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      const problem = typeof v === 'string' ? textProblem(v) : undefined;
      if (problem !== undefined) throw new UsageError(`--${flag} ${problem}`);
    }
  }
  parsed.positionals.forEach((p, i) => {
    const problem = textProblem(p);
    if (problem !== undefined) throw new UsageError(`argument ${i + 1} ${problem}`);
  });
  return parsed;
}

export function requireFlag(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`missing required option --${flag}`);
  return value;
}

export function intFlag(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min} (got ${JSON.stringify(value)})`);
  return n;
}

export function numberFlag(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new UsageError(`--${flag} must be a number (got ${JSON.stringify(value)})`);
  return n;
}

/** "128,64" -> [128, 64]; each a positive integer. */
export function unitsFlag(value: string | undefined, flag: string, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const parts = value.split(',').map((s) => Number(s.trim()));
  if (parts.length === 0 || parts.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError(`--${flag} must be comma-separated integers >= 1, e.g. 128,64 (got ${JSON.stringify(value)})`);
  }
  return parts;
}

export function fractionFlag(value: string | undefined, flag: string, fallback: number, max = 1): number {
  const n = numberFlag(value, flag, fallback);
  if (!(n >= 0 && n < max)) throw new UsageError(`--${flag} must be in [0, ${max}) (got ${JSON.stringify(value)})`);
  return n;
}

export function positiveFlag(value: string | undefined, flag: string, fallback: number): number {
  const n = numberFlag(value, flag, fallback);
  if (!(n > 0)) throw new UsageError(`--${flag} must be > 0 (got ${JSON.stringify(value)})`);
  return n;
}

/** The command line as typed, for reports (arguments quoted where the shell would need it). */
export function commandLine(name: string, argv: readonly string[]): string {
  const q = (a: string) => (/^[A-Za-z0-9_./:=,@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  return ['signals', name, ...argv.map(q)].join(' ');
}

/** CLI logs go to stderr: stdout carries results (tables, CSV). */
export function cliLogger(): Logger {
  return createRootLogger(loadSettings().LOG_LEVEL, process.stderr);
}

export type PublishMode = 'ticks' | 'bars';

export function parseSpeed(value: string | undefined, fallback: Speed = 'max'): Speed {
  if (value === undefined) return fallback;
  if (value === 'max') return 'max';
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--speed must be a number > 0 or "max" (got ${JSON.stringify(value)})`);
  return n;
}

export function parseMode(value: string | undefined): PublishMode {
  if (value === undefined || value === 'ticks') return 'ticks';
  if (value === 'bars') return 'bars';
  throw new UsageError(`--as must be "ticks" or "bars" (got ${JSON.stringify(value)})`);
}

/** A venue/symbol flag that can become a subject token, else a usage error. */
export function tokenFlag(value: string | undefined, flag: string): string {
  const v = requireFlag(value, flag);
  if (!isToken(v)) throw new UsageError(`--${flag} ${JSON.stringify(v)} is invalid: must match [A-Za-z0-9_-]{1,32}`);
  return v;
}
