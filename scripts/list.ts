import { runCli } from './lib/cli/run.js';
import { listCommand } from './lib/commands/list.js';

await runCli(listCommand);
