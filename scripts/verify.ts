import { runCli } from './lib/cli/run.js';
import { verifyCommand } from './lib/verify/command.js';

await runCli(verifyCommand);
