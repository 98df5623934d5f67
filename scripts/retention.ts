import { runCli } from './lib/cli/run.js';
import { retentionCommand } from './lib/retention/command.js';

await runCli(retentionCommand);
