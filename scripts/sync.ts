import { runCli } from './lib/cli/run.js';
import { dbSyncCommand } from './lib/commands/sync.js';

await runCli(dbSyncCommand);
