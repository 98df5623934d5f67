import { runCli } from './lib/cli/run.js';
import { importCommand } from './lib/commands/import.js';

await runCli(importCommand);
