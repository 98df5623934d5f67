import { runCli } from './lib/cli/run.js';
import { dbSyncCommand } from './lib/sync/command.js';

await runCli(dbSyncCommand);
