import { runCli } from './lib/cli/run.js';
import { dropCommand } from './lib/commands/drop.js';

await runCli(dropCommand);
