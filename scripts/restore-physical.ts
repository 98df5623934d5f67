import { runCli } from './lib/cli/run.js';
import { physicalRestoreCommand } from './lib/commands/physical.js';

await runCli(physicalRestoreCommand);
