/** The command registry. Add a command: one file in this folder, one line here. */
import type { Command } from '../command.js';
import { checkCommand, compileCommand } from './compile.js';
import { trainCommand } from './train.js';
import { verifyCommand } from './verify.js';
import { inspectCommand } from './inspect.js';
import { reportCommand } from './report.js';
import { initCommand } from './init.js';
import { boundsCommand } from './bounds.js';
import { mergeCommand } from './merge.js';

export const commands: readonly Command[] = [
  checkCommand,
  compileCommand,
  trainCommand,
  verifyCommand,
  inspectCommand,
  reportCommand,
  initCommand,
  boundsCommand,
  mergeCommand,
];
