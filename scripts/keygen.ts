import { runCli } from './lib/cli/run.js';
import { keygenCommand } from './lib/commands/keygen.js';

await runCli(keygenCommand);
