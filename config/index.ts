export { settingsSchema, qualitySettingsShape, type QualityEnvSettings, type Settings } from './schema.ts';
export { loadSettings, childProcessEnv, ConfigError } from './load.ts';
export { createRootLogger, redactUrl, type Logger } from './logger.ts';
export { EXIT, type ExitCode } from './exit-codes.ts';
export { SignalsError } from './errors.ts';
