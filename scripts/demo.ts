/**
 * `pnpm demo`: the whole story on a throw-away server, with no configuration at all:
 * PostgreSQL by default (scripts/demo/postgres.ts), MySQL/MariaDB with `--engine mysql`
 * (scripts/demo/mysql.ts). The backups stay in backups/demo/ to look at.
 */
import { mysqlDemo } from './demo/mysql.js';
import { DemoUsageError, parseDemoOptions } from './demo/options.js';
import { postgresDemo } from './demo/postgres.js';

async function main(): Promise<void> {
  const engine = parseDemoOptions(process.argv.slice(2));
  if (engine === 'mysql') await mysqlDemo();
  else if (engine === 'postgresql') await postgresDemo();
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: ${error instanceof DemoUsageError ? `${error.message}\nRun "pnpm demo -- --help" for usage.` : `error: ${error instanceof Error ? error.message : String(error)}`}\n`);
  process.exitCode = error instanceof DemoUsageError ? 2 : 1;
});
