import { menu } from './lib/commands/menu.js';

process.exitCode = await menu(process.cwd());
