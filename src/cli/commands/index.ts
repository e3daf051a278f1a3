/** The command registry. Add a command: one file in this folder, one line here. */
import type { Command } from '../command.js';

export const commands: readonly Command[] = [];
