/** `pnpm demo` flags: which engine's story to walk. Its own module, so the docs test can read the usage. */
import { parseArgs } from 'node:util';

export const DEMO_USAGE = `
Usage: pnpm demo [-- options]

Walks the kit's whole story on a throw-away server it starts and removes again: an application
database with data, a backup, the list, a deep verification, a disaster, the restore, and proof
that the data is back. The backups stay in backups/demo/ to look at.

Options:
  --engine <name>  postgresql (the default: a throw-away cluster and the sample application's
                   migrations) or mysql (a throw-away MariaDB server and a shop database)
  --help, -h       this text
`;

export type DemoEngine = 'postgresql' | 'mysql';

export class DemoUsageError extends Error {}

/** The engine to demonstrate, or undefined when --help was printed. */
export function parseDemoOptions(argv: string[]): DemoEngine | undefined {
  let values;
  try {
    // pnpm passes the "--" of `pnpm demo -- --engine mysql` through; it means nothing here.
    values = parseArgs({ args: argv.filter((a) => a !== '--'), strict: true, allowPositionals: false, options: { engine: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }).values;
  } catch (error) {
    throw new DemoUsageError((error as Error).message);
  }
  if (values.help === true) {
    process.stdout.write(DEMO_USAGE.trimStart());
    return undefined;
  }
  const engine = values.engine ?? 'postgresql';
  if (engine === 'mariadb') return 'mysql';
  if (engine !== 'postgresql' && engine !== 'mysql') throw new DemoUsageError(`--engine takes postgresql or mysql, got "${engine}".`);
  return engine;
}
