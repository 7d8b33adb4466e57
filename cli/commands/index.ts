import type { CliCommand } from '../command.ts';
import { evaluateCommand } from './evaluate.ts';
import { inferCommand } from './infer.ts';
import { replayCommand } from './replay.ts';
import { synthCommand } from './synth.ts';
import { trainCommand } from './train.ts';

/** Every `signals` command, in the order `signals --help` lists them. Add one line per command. */
export const commands: CliCommand[] = [replayCommand, synthCommand, trainCommand, inferCommand, evaluateCommand];
