import { runCli } from './lib/cli/run.js';
import { consoleCommand } from './lib/commands/console.js';

// The console is the conversation: no spinner under its prompt.
await runCli(consoleCommand, [...process.argv.slice(2), '--no-progress']);
