import { runCli } from './lib/cli/run.js';
import { safeMigrateCommand } from './lib/commands/migrate-safe.js';

await runCli(safeMigrateCommand);
