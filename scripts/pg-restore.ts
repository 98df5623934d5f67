import { runCli } from './lib/cli/run.js';
import { restoreCommand } from './lib/restore/command.js';

await runCli(restoreCommand);
