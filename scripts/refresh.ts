import { runCli } from './lib/cli/run.js';
import { dbRefreshCommand } from './lib/commands/sync.js';

await runCli(dbRefreshCommand);
