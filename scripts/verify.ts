import { runCli } from './lib/cli/run.js';
import { verifyCommand } from './lib/commands/verify.js';

await runCli(verifyCommand);
