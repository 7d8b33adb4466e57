import { SignalsError } from './errors.ts';
import { EXIT } from './exit-codes.ts';
import { settingsSchema, type Settings } from './schema.ts';

/**
 * A setting failed validation; `issues` name each variable and what is wrong. The
 * person who set the variable fixes it: the CLI exits with the usage code, no stack.
 */
export class ConfigError extends SignalsError {
  override readonly name = 'ConfigError';
  override readonly retryable = false;
  constructor(readonly issues: readonly string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`, { exitCode: EXIT.usage });
  }
}

/**
 * Reads settings from an environment (process.env by default), with overrides
 * applied on top (used by tests and CLI flags). Empty strings count as unset.
 */
export function loadSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof Settings, string | number | boolean>> = {},
): Settings {
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(settingsSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  for (const [key, value] of Object.entries(overrides)) {
    if (value !== undefined) raw[key] = String(value);
  }
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join('.');
        const given = raw[name];
        return `${name}: ${i.message}${given === undefined ? '' : ` (got ${JSON.stringify(given)})`}`;
      }),
    );
  }
  return parsed.data;
}

/**
 * The environment of a child process of this one (e.g. the training worker): this
 * process's environment with `extra` on top. The child reads its settings from it
 * with `loadSettings()`.
 */
export function childProcessEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, ...extra };
}
