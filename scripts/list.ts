import { runCli } from './lib/cli/run.js';
import { listCommand } from './lib/list/command.js';

await runCli(listCommand);
