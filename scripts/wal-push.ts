import { runCli } from './lib/cli/run.js';
import { walPushCommand } from './lib/commands/wal.js';

await runCli(walPushCommand);
