import { runCli } from './lib/cli/run.js';
import { backupCommand } from './lib/commands/backup.js';

await runCli(backupCommand);
