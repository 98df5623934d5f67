import { runCli } from './lib/cli/run.js';
import { dropCommand } from './lib/drop/command.js';

await runCli(dropCommand);
