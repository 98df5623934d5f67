import { menu } from './lib/commands/menu.js';
import { armExitCheck } from './lib/cli/exit-check.js';

process.exitCode = await menu(process.cwd());
armExitCheck(process.env);
