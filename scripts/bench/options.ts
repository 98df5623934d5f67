/** `pnpm bench` flags: parsed strictly, with --help and one usage error class. */
import { parseArgs } from 'node:util';

export const USAGE = `
Usage: pnpm bench [-- options]

Times pg-backup-kit against PostgreSQL's own pg_dump on the same database in the same run and
prints the ratios with PASS/MISS against their targets. By default it starts a throw-away
cluster, fills a database with pgbench data and deletes everything afterwards.

Options:
  --engine <name> postgresql (the default) or mysql: the MySQL/MariaDB section, on a throw-away
                  MariaDB server with generated mixed data (integers, utf8mb4 text, JSON, blobs,
                  dates, decimals; one wide table): the kit's backup, restore and export against
                  mariadb-dump, mariadb < dump and mariadb --batch per table, and the mysql2 and
                  mariadb npm drivers streaming the biggest table
  --scale <n>     size of the data, about 15 MB per unit (default: 20)
  --data <kind>   pgbench (the default: pgbench's tables, which compress about 57:1) or mixed
                  (text, jsonb, numeric, timestamps, bytea, arrays and wide rows that compress
                  like an application's data, with indexes and a foreign key)
  --runs <n>      runs per case; the median is reported (default: 3)
  --case <ids>    run only these cases (comma-separated ids, see --list); checks whose cases
                  did not run are left out
  --list          print the case ids and labels, and stop
  --url <url>     benchmark this existing database instead of a throw-away cluster; its data is
                  used as it is unless --init is given (prefer a scratch database)
  --init          with --url: load pgbench data at --scale first (drops and recreates the
                  pgbench_* tables in that database)
  --json          print the results as one JSON object instead of tables
  --help, -h      this text

Progress goes to stderr, results to stdout.
`;

export type BenchData = 'pgbench' | 'mixed';

export type BenchEngine = 'postgresql' | 'mysql';

export interface BenchOptions {
  engine: BenchEngine;
  scale: number;
  data: BenchData;
  runs: number;
  url: string | undefined;
  init: boolean;
  json: boolean;
  /** Case ids to run; undefined means all. */
  only: string[] | undefined;
  list: boolean;
}

export class UsageError extends Error {}

function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number of at least 1, got "${text}".`);
  return n;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        engine: { type: 'string' },
        scale: { type: 'string' },
        data: { type: 'string' },
        runs: { type: 'string' },
        case: { type: 'string' },
        list: { type: 'boolean' },
        url: { type: 'string' },
        init: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Undefined means --help was printed and there is nothing to do. */
export function parseOptions(argv: string[]): BenchOptions | undefined {
  // pnpm passes the "--" of `pnpm bench -- --runs 5` through; it means nothing here.
  const values = parseFlags(argv.filter((a) => a !== '--'));
  if (values.help === true) {
    process.stdout.write(USAGE.trimStart());
    return undefined;
  }
  const init = values.init === true;
  if (init && values.url === undefined) throw new UsageError('--init only applies with --url; the throw-away cluster is always initialised.');
  if (values.url !== undefined && !init && values.scale !== undefined) throw new UsageError('--scale needs --init when --url is given: without it the database is benchmarked as it is.');
  const engine = values.engine ?? 'postgresql';
  if (engine !== 'postgresql' && engine !== 'mysql') throw new UsageError(`--engine takes postgresql or mysql, got "${engine}".`);
  if (engine === 'mysql' && (values.url !== undefined || values.data !== undefined)) {
    throw new UsageError('--engine mysql always starts its own MariaDB server with mixed data: leave out --url, --init and --data.');
  }
  const data = values.data ?? 'pgbench';
  if (data !== 'pgbench' && data !== 'mixed') throw new UsageError(`--data takes pgbench or mixed, got "${data}".`);
  const only = values.case?.split(',').map((id) => id.trim()).filter(Boolean);
  if (only !== undefined && only.length === 0) throw new UsageError('--case takes one or more case ids, e.g. --case raw-dump,kit-dump (see --list).');
  return {
    engine,
    scale: positiveInteger(values.scale ?? '20', '--scale'),
    data,
    runs: positiveInteger(values.runs ?? '3', '--runs'),
    url: values.url,
    init,
    json: values.json === true,
    only,
    list: values.list === true,
  };
}
