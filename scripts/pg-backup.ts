import { runCli } from './lib/cli/run.js';
import { backupCommand } from './lib/backup/command.js';

await runCli(backupCommand);
