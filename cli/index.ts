/**
 * The `signals` command line: its subcommands, the command type and the errors it
 * exits with. `cli/main.ts` (started by `bin/signals.js`) runs it.
 */
export { commands } from './commands/index.ts';
export type { CliCommand } from './command.ts';
export { CliError, EXIT, exitCodeOf, UsageError, type ExitCode } from './errors.ts';
