import { runCli } from './lib/cli/run.js';
import { physicalRetentionCommand } from './lib/commands/physical.js';

await runCli(physicalRetentionCommand);
