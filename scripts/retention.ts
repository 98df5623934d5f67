import { runCli } from './lib/cli/run.js';
import { retentionCommand } from './lib/commands/retention.js';

await runCli(retentionCommand);
