import { runCli } from './lib/cli/run.js';
import { safeMigrateCommand } from './lib/migrate/command.js';

await runCli(safeMigrateCommand);
