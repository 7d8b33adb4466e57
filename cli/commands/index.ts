import type { CliCommand } from '../command.ts';
import { backupCommand } from './backup.ts';
import { dashboardCommand } from './dashboard.ts';
import { evaluateCommand } from './evaluate.ts';
import { inferCommand } from './infer.ts';
import { migrateCommand } from './migrate.ts';
import { modelsCommand } from './models.ts';
import { runCommand } from './run.ts';
import { statusCommand } from './status.ts';
import { replayCommand } from './replay.ts';
import { restoreCommand } from './restore.ts';
import { synthCommand } from './synth.ts';
import { trainCommand } from './train.ts';

/** Every `signals` command, in the order `signals --help` lists them. Add one line per command. */
export const commands: CliCommand[] = [runCommand, statusCommand, dashboardCommand, migrateCommand, replayCommand, synthCommand, trainCommand, inferCommand, evaluateCommand, modelsCommand, backupCommand, restoreCommand];
