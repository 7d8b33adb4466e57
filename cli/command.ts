import { parseArgs, type ParseArgsConfig } from 'node:util';
import { textProblem } from '../streams/index.ts';
import { UsageError } from './errors.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

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
