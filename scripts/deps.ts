import { runCli } from './lib/cli/run.js';
import { depsCommand } from './lib/commands/deps.js';

await runCli(depsCommand);
