import { runCli } from './lib/cli/run.js';
import { walStatusCommand } from './lib/commands/wal.js';

await runCli(walStatusCommand);
