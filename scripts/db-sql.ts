import { runCli } from './lib/cli/run.js';
import { sqlCommand } from './lib/commands/sql.js';

await runCli(sqlCommand);
