import { runCli } from './lib/cli/run.js';
import { pushCommand } from './lib/commands/push.js';

await runCli(pushCommand);
