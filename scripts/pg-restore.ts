import { runCli } from './lib/cli/run.js';
import { restoreCommand } from './lib/commands/restore.js';

await runCli(restoreCommand);
