import { menu } from './lib/menu/menu.js';

process.exitCode = await menu(process.cwd());
