import { runCli } from './lib/cli/run.js';
import { physicalVerifyCommand } from './lib/commands/physical.js';

await runCli(physicalVerifyCommand);
