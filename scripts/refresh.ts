import { runCli } from './lib/cli/run.js';
import { dbRefreshCommand } from './lib/sync/command.js';

await runCli(dbRefreshCommand);
