/**
 * mariadb-dump (or mysqldump) writing one database as SQL to its stdout. `--single-transaction`
 * is the backup's snapshot: one REPEATABLE READ transaction, opened WITH CONSISTENT SNAPSHOT
 * before the first table is read, in which every InnoDB (and transactional Aria) table is read;
 * no table is locked, so LOCK TABLES is switched off outright. Non-transactional tables are read
 * as they are at that moment (the backup names them in a warning).
 */
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { RunningProcess } from '../../proc/process.js';
import type { DumpRequest, DumpScope } from '../engine.js';
import { startMySqlTool } from './tools.js';
import { mySqlToolOf } from './located.js';

/** The program's arguments for one database and scope (the connection is in the option file). Pure. */
export function mySqlDumpArgs(database: string, scope: Pick<DumpScope, 'schemas' | 'tables' | 'excludeTables'>): string[] {
  if (scope.schemas.length) {
    throw new KitError('BAD_ARGUMENT', `--schema has no meaning for MySQL/MariaDB: a database is the schema there, and the backup is of ${database}. Use --table to narrow it.`);
  }
  const args = [
    '--single-transaction',
    '--skip-lock-tables',
    '--quick',
    '--routines',
    '--triggers',
    '--events',
    '--hex-blob',
    '--default-character-set=utf8mb4',
    // Tablespace statements need the PROCESS privilege and belong to the server, not the database.
    '--no-tablespaces',
    // The trailer "-- Dump completed on <date>" is the proof the dump ran to its end: kept.
    '--dump-date',
    ...scope.excludeTables.map((t) => `--ignore-table=${database}.${tableName(t, database)}`),
    database,
    ...scope.tables.map((t) => tableName(t, database)),
  ];
  return args;
}

/** "t" or "<database>.t" → "t"; a table of another database is refused (the dump is of one). */
function tableName(given: string, database: string): string {
  const prefix = `${database}.`;
  if (given.startsWith(prefix)) return given.slice(prefix.length);
  if (given.includes('.')) {
    throw new KitError('BAD_ARGUMENT', `--table/--exclude-table ${given} names a table of another database; this backup is of ${database}. Give the table's name (or ${database}.<table>).`);
  }
  return given;
}

/** mariadb-dump's own words mapped to the kit's errors, so the message says what to do next. */
export function explainMySqlDumpFailure(stderr: string): KitError | undefined {
  const quote = lastLine(stderr);
  if (/Couldn't find table/i.test(stderr)) {
    return new KitError('NOTHING_MATCHED', `${quote}. Check the --table names (as the server spells them). No backup was written.`);
  }
  const routine = /(\S+) has insufficient privileges to SHOW CREATE (FUNCTION|PROCEDURE) (.+?)!/i.exec(stderr);
  if (routine) {
    // The routine would otherwise be left out of the backup: refused, with the grant that fixes it.
    return new KitError('PG_DUMP_FAILED', `${routine[1]} may not read the body of ${routine[2]!.toLowerCase()} ${routine[3]}, so the backup would lose it. Grant it SELECT ON mysql.proc (MariaDB before 11.3; SHOW CREATE ROUTINE from 11.3, or run the backup as the routine's definer). No backup was written.`);
  }
  if (/Lock wait timeout exceeded|Waiting for table metadata lock/i.test(stderr)) {
    return new KitError('PG_DUMP_FAILED', `${quote}: another session holds a conflicting lock (often a migration or ALTER TABLE). Retry when it has finished. No backup was written.`);
  }
  if (/No space left on device|Errcode: 28/i.test(stderr)) {
    return new KitError('DISK_FULL', `The disk filled up during the backup (${quote}). No backup was written; partial files were removed. Free space or set BACKUP_DIR to a larger disk.`);
  }
  if (/Lost connection to (MySQL|MariaDB|server)|server has gone away|Can't connect to/i.test(stderr)) {
    return new KitError('SERVER_UNREACHABLE', `The connection to the server was lost during the backup (${quote}). No backup was written; check the server and run the backup again.`);
  }
  return undefined;
}

function lastLine(stderr: string): string {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return (lines.filter((l) => /error|got|couldn't/i.test(l)).at(-1) ?? lines.at(-1) ?? 'mariadb-dump failed').replace(/\.$/, '');
}

/** The dump of the request's database to stdout; only the plain format exists for this engine. */
export function startMySqlDump(request: DumpRequest): RunningProcess {
  if (request.format !== 'plain') {
    throw new KitError('BAD_FORMAT', `MySQL/MariaDB backups are SQL scripts (.sql, .sql.gz); there is no ${request.format} archive for this engine.`);
  }
  if (request.file !== undefined) throw new KitError('INTERNAL', 'mariadb-dump writes to its stdout only, not to a file.');
  const target: Target | undefined = request.target;
  if (!target) throw new KitError('INTERNAL', 'A MySQL dump needs its target for the connection.');
  const args = mySqlDumpArgs(target.database, request.scope);
  return startMySqlTool(mySqlToolOf(request.tool), target, args, { env: request.env, failure: 'PG_DUMP_FAILED', explain: explainMySqlDumpFailure });
}
