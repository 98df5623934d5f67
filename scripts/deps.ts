import { runCli } from './lib/cli/run.js';
import { depsCommand } from './lib/deps/command.js';

await runCli(depsCommand);
