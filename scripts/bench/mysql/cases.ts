/**
 * The MySQL section's cases: the kit's db:backup, db:restore and db:export on a MariaDB database
 * against what a person would run by hand with MariaDB's own client programs, plus the two npm
 * drivers streaming the biggest table. The raw programs run through the kit's own spawn path for
 * them (startMySqlTool: the connection in a private option file), so both sides connect alike.
 *
 * The raw peers, defined honestly:
 * - backup: `mariadb-dump --single-transaction … bench > file` with the same options the kit's
 *   backup gives it (DUMP_OPTIONS);
 * - restore: `mariadb bench_restore_N < file` into a fresh empty database, against the kit's
 *   `db:restore <its .sql> --force --no-safety-backup` into another (the swap included; the
 *   safety backup left out, as in the PostgreSQL section: its cost is a backup's);
 * - export: `mariadb --batch --quick -e 'SELECT * FROM t' bench > t.tsv` for each table, one after
 *   the other: the client's own plain-text table dump (tab-separated, streamed with --quick). It
 *   is a client-side dump like the kit's; SELECT … INTO OUTFILE writes on the server's disk, so it
 *   is no peer.
 */
import { closeSync, openSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { $ } from 'zx/core';
import { locateMySqlTool, startMySqlTool, type MySqlToolName } from '../../lib/engines/mysql/tools.js';
import { REPO, runKit } from '../context.js';
import type { BenchCase, RunOutcome } from '../registry.js';
import { BENCH_DATABASE, MYSQL_TABLES, withMySql, type MySqlSubject } from './subject.js';

/** The options the kit's backup gives mariadb-dump (engines/mysql/dump.ts), so both sides dump the same. */
export const DUMP_OPTIONS = ['--single-transaction', '--skip-lock-tables', '--quick', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', '--no-tablespaces', '--dump-date'];

export interface MySqlBenchContext {
  subject: MySqlSubject;
  signal: AbortSignal;
}

/** A MariaDB client program connected as the admin, stdin and stdout from and to files when given. */
async function tool(ctx: MySqlBenchContext, name: MySqlToolName, args: string[], io: { database?: string; stdin?: string; stdout?: string } = {}): Promise<void> {
  const program = await locateMySqlTool(name);
  const input = io.stdin === undefined ? 'ignore' : openSync(io.stdin, 'r');
  const output = io.stdout === undefined ? 'ignore' : openSync(io.stdout, 'w', 0o600);
  try {
    const running = startMySqlTool(program, ctx.subject.target(io.database ?? BENCH_DATABASE), [...args, io.database ?? BENCH_DATABASE], {
      failure: 'INTERNAL',
      signal: ctx.signal,
      stdio: [input, output, 'pipe'],
    });
    await running.done;
  } finally {
    // the child holds its own copies
    if (typeof input === 'number') closeSync(input);
    if (typeof output === 'number') closeSync(output);
  }
}

const kit = (ctx: MySqlBenchContext, dir: string, args: string[], database = BENCH_DATABASE): Promise<RunOutcome> => runKit(dir, args, ctx.subject.url(database), ctx.signal);

let counter = 0;

/** A fresh empty database per run for the restore cases, dropped after the run. */
function freshDatabases(ctx: MySqlBenchContext) {
  const databases = new Map<string, string>();
  const admin = (sql: string) => withMySql(ctx.subject.target(''), (client) => client.query(sql));
  return {
    of: (dir: string) => databases.get(dir)!,
    async create(dir: string): Promise<void> {
      const name = `bench_restore_${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
      databases.set(dir, name);
    },
    async drop(dir: string): Promise<void> {
      const name = databases.get(dir);
      if (!name) return;
      databases.delete(dir);
      await admin(`DROP DATABASE IF EXISTS ${name}`);
    },
  };
}

const rawDumpFile = (dir: string) => path.join(dir, 'raw.sql');

function kitSqlFile(dir: string): string {
  // the backup's script, not the users and grants beside it (.globals.sql)
  const files = readdirSync(path.join(dir, 'default')).filter((f) => f.endsWith('.sql') && !f.endsWith('.globals.sql'));
  if (files.length !== 1) throw new Error(`expected one .sql from the kit's backup, found ${files.length}`);
  return path.join(dir, 'default', files[0]!);
}

function backupCases(ctx: MySqlBenchContext): BenchCase[] {
  return [
    {
      id: 'mysql-raw-dump',
      label: 'raw mariadb-dump --single-transaction > file',
      run: async (dir) => {
        await tool(ctx, 'mariadb-dump', DUMP_OPTIONS, { stdout: rawDumpFile(dir) });
        return {};
      },
    },
    {
      id: 'mysql-kit-backup',
      label: 'kit db:backup --format sql',
      run: (dir) => kit(ctx, dir, ['pg-backup', '--format', 'sql', '--skip-space-check']),
      target: { label: 'kit backup / raw mariadb-dump', against: 'mysql-raw-dump', max: 1.05 },
      mayBeUnavailable: true,
    },
  ];
}

function restoreCases(ctx: MySqlBenchContext): BenchCase[] {
  const raw = freshDatabases(ctx);
  const kitTargets = freshDatabases(ctx);
  return [
    {
      id: 'mysql-raw-restore',
      label: 'raw mariadb db < dump',
      prepare: async (dir) => {
        await tool(ctx, 'mariadb-dump', DUMP_OPTIONS, { stdout: rawDumpFile(dir) });
        await raw.create(dir);
      },
      run: async (dir) => {
        await tool(ctx, 'mariadb', [], { database: raw.of(dir), stdin: rawDumpFile(dir) });
        return {};
      },
      cleanup: (dir) => raw.drop(dir),
    },
    {
      id: 'mysql-kit-restore',
      label: 'kit db:restore --force (scratch database, swap)',
      prepare: async (dir) => {
        await kit(ctx, dir, ['pg-backup', '--format', 'sql', '--skip-space-check']);
        await kitTargets.create(dir);
      },
      run: (dir) => kit(ctx, dir, ['pg-restore', kitSqlFile(dir), '--force', '--no-safety-backup'], kitTargets.of(dir)),
      cleanup: (dir) => kitTargets.drop(dir),
      target: { label: 'kit restore / raw mariadb < dump', against: 'mysql-raw-restore', max: 1.15 },
      mayBeUnavailable: true,
    },
  ];
}

function exportCases(ctx: MySqlBenchContext): BenchCase[] {
  return [
    {
      id: 'mysql-raw-tsv',
      label: "raw mariadb --batch --quick -e 'SELECT * FROM t', table after table",
      run: async (dir) => {
        for (const table of MYSQL_TABLES) await tool(ctx, 'mariadb', ['--batch', '--quick', '-e', `SELECT * FROM \`${table}\``], { stdout: path.join(dir, `${table}.tsv`) });
        return {};
      },
    },
    {
      id: 'mysql-kit-export',
      label: 'kit db:export (csv)',
      run: (dir) => kit(ctx, dir, ['db-export']),
      target: { label: 'kit export / raw mariadb --batch per table', against: 'mysql-raw-tsv', max: 1.0 },
      mayBeUnavailable: true,
    },
  ];
}

export interface DriverRun {
  rows: number;
  bytes: number;
  ms: number;
  maxRssBytes: number;
}

/** The biggest table, streamed by one npm driver in a process of its own. */
export async function streamWithDriver(ctx: MySqlBenchContext, driver: 'mysql2' | 'mariadb'): Promise<DriverRun> {
  const target = ctx.subject.target();
  const env = {
    PATH: process.env.PATH,
    BENCH_MYSQL_HOST: target.host,
    BENCH_MYSQL_PORT: String(target.port),
    BENCH_MYSQL_USER: target.user,
    BENCH_MYSQL_PASSWORD: target.password,
    BENCH_MYSQL_DATABASE: target.database,
  };
  const script = path.join(REPO, 'scripts/bench/mysql/driver-stream.mjs');
  const out = await $({ env, cwd: REPO, signal: ctx.signal, quiet: true })`${process.execPath} ${script} ${driver} ${MYSQL_TABLES.at(-1)!}`;
  return JSON.parse(out.stdout) as DriverRun;
}

function driverCases(ctx: MySqlBenchContext): BenchCase[] {
  return (['mysql2', 'mariadb'] as const).map((driver) => ({
    id: `mysql-driver-${driver}`,
    label: `driver ${driver}: stream ${MYSQL_TABLES.at(-1)!} (rows as objects)`,
    run: async () => {
      const result = await streamWithDriver(ctx, driver);
      return { peakRssBytes: result.maxRssBytes, innerMs: result.ms, rows: result.rows };
    },
  }));
}

/** Every case of the section, in the order they run and are reported. */
export function mysqlCases(ctx: MySqlBenchContext): BenchCase[] {
  return [...backupCases(ctx), ...restoreCases(ctx), ...exportCases(ctx), ...driverCases(ctx)];
}
