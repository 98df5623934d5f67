import { runCli } from './lib/cli/run.js';
import { walFetchCommand } from './lib/commands/wal.js';

await runCli(walFetchCommand);
