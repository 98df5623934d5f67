import { runCli } from './lib/cli/run.js';
import { exportCommand } from './lib/commands/export.js';

await runCli(exportCommand);
