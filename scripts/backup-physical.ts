import { runCli } from './lib/cli/run.js';
import { physicalBackupCommand } from './lib/commands/physical.js';

await runCli(physicalBackupCommand);
