import { runCli } from './lib/cli/run.js';
import { pullCommand } from './lib/commands/push.js';

await runCli(pullCommand);
