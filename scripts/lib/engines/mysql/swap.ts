/**
 * A MySQL/MariaDB restore that is all or nothing although the engine's DDL is not transactional.
 *
 *  1. The script loads into a fresh database beside the target (`<db>_kit_new_<stamp>`), marked
 *     as this process's; its row counts are checked against the backup's. The target is untouched.
 *  2. A second marked database (`<db>_kit_old_<stamp>`) receives a journal: the tables on both
 *     sides and every routine, view, trigger and event of both, as SHOW CREATE gives them.
 *  3. Triggers are dropped on both sides (a table with triggers cannot change database), then ONE
 *     RENAME TABLE moves every target table to the old database and every fresh table into the
 *     target. The server makes that statement atomic: all tables moved, or none.
 *  4. The target's routines, views and events are replaced by the backup's, and the backup's
 *     triggers made; the journal is marked committed; the old database is dropped (or kept).
 *
 * Between dropping the target's triggers and the RENAME (the next statement) a write by another
 * session to the target runs without them; MariaDB refuses RENAME TABLE under LOCK TABLES, so the
 * window cannot be closed by locking, only kept to one statement.
 *
 * A failure after step 2 undoes from the journal: the target's tables renamed back in one
 * statement when they had moved, and its own objects made again. A kit killed outright at any
 * step leaves the journal and the markers; the next run's repairLeftovers sees where the tables
 * are and whether the journal says committed, and finishes (committed) or undoes (not), so the
 * target is the backup or exactly what it was, never half of each.
 */
import { hostname } from 'node:os';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { Reporter } from '../../context.js';
import { pauseForTest } from '../test-pause.js';
import { processAlive } from '../../proc/process.js';
import { openMySql, type MySqlClient } from './client.js';
import { loadScript, type ScriptFile } from './load.js';
import { createMarkedDatabase, databaseFacts, dropKitDatabase, kitDatabaseName, markedDatabases, markerText, quoteName, quoteString, type MarkedDatabase } from './marker.js';
import { baseTables, createObjects, dropObjects, objectKeys, readObjects, type DatabaseObject } from './objects.js';

export interface MySqlSwapPlan {
  /** Keep the target's previous tables in `<db>_kit_old_<stamp>` instead of dropping them. */
  keepOld: boolean;
  /** table → the rows the backup recorded; each must be in the loaded copy with exactly that many. */
  expectedRows: Record<string, number>;
  /** Unique per run, in a database name's characters ("20261208_010203"). */
  stamp: string;
  /** How long the swap waits for another session's metadata lock on a table before giving up. */
  lockTimeoutSeconds: number;
}

/** Where the old database keeps what an undo or a repair needs. */
const JOURNAL = 'pg_backup_kit_swap';

interface Journal {
  database: string;
  fresh: string;
  targetTables: string[];
  freshTables: string[];
  targetObjects: DatabaseObject[];
  freshObjects: DatabaseObject[];
  keepOld: boolean;
}

const serverTarget = (target: Target): Target => ({ ...target, database: '' });

/**
 * Restore `source` over `target.database` by a scratch load and one RENAME TABLE. Returns the
 * database that keeps the previous tables when `plan.keepOld` asked for it.
 */
export async function restoreBySwap(target: Target, source: ScriptFile, plan: MySqlSwapPlan, reporter: Reporter, signal: AbortSignal, env: NodeJS.ProcessEnv = process.env, onSwap?: () => void): Promise<{ oldDatabase: string | undefined }> {
  const notice = (message: string) => reporter.notice(message);
  await repairLeftovers(target, notice);
  const client = await openMySql(serverTarget(target));
  const fresh = kitDatabaseName(target.database, 'kit_new', plan.stamp);
  const old = kitDatabaseName(target.database, 'kit_old', plan.stamp);
  let createdTarget = false;
  let journal: Journal | undefined;
  try {
    const facts = await databaseFacts(client, target.database);
    await createMarkedDatabase(client, fresh, 'restore of', target.database, facts);
    reporter.progress({ phase: `restoring into ${fresh}`, bytes: 0 });
    await loadScript(target, fresh, source, signal, `Restoring into ${fresh} (the target was not touched)`);
    await checkRows(client, fresh, plan.expectedRows);
    signal.throwIfAborted();
    await pauseForTest(env, 'swap', reporter);
    if (!facts.exists) {
      await client.query(`CREATE DATABASE ${quoteName(target.database)} CHARACTER SET ${facts.charset} COLLATE ${facts.collation}`);
      createdTarget = true;
    }
    // The last moment a signal stops the restore: what follows is the change itself, or its undo.
    signal.throwIfAborted();
    onSwap?.();
    reporter.progress({ phase: 'swapping tables', bytes: 0 });
    await client.query('SET SESSION lock_wait_timeout = ?', [Math.max(1, Math.round(plan.lockTimeoutSeconds))]);
    journal = await writeJournal(client, target.database, fresh, old, plan.keepOld, facts);
    await swapIn(client, journal, old, env, reporter);
    return { oldDatabase: await finish(client, journal, old, notice) };
  } catch (error) {
    const back = await putBack(target, journal, fresh, old, createdTarget, notice);
    throw inKitWords(error, target.database, back, plan.lockTimeoutSeconds);
  } finally {
    await client.end();
  }
}

const LOCK_WAIT = /Lock wait timeout exceeded/i;

/** A server error during the swap, said in the kit's words with what became of the target. */
function inKitWords(error: unknown, database: string, back: boolean, lockTimeoutSeconds: number): unknown {
  if (error instanceof KitError || (error instanceof Error && error.name === 'AbortError')) return error;
  const message = error instanceof Error ? error.message : String(error);
  const outcome = back ? `${database} is unchanged.` : `${database} is not yet back as it was: run pnpm db:restore again on this host, which finishes putting it back first.`;
  if (LOCK_WAIT.test(message)) {
    return new KitError('LOCK_TIMEOUT', `The restore waited ${lockTimeoutSeconds}s for a table lock on ${database} and gave up: another session holds one of its tables (an open transaction, often a migration or ALTER TABLE). ${outcome} Retry when it has finished, or raise --lock-timeout.`);
  }
  return new KitError('RESTORE_FAILED', `The restore failed while swapping the restored tables into ${database}: ${message}. ${outcome}`);
}

/**
 * After a failure: on a connection of its own (the run's may be what failed), the target as it
 * was. Whether it is (true also when nothing of it had been touched yet).
 */
async function putBack(target: Target, journal: Journal | undefined, fresh: string, old: string, createdTarget: boolean, notice: (message: string) => void): Promise<boolean> {
  let client: MySqlClient;
  try {
    client = await openMySql(serverTarget(target));
  } catch (error) {
    notice(`could not reach the server to clean up (${error instanceof Error ? error.message : String(error)}); the next pnpm db:restore on this host ${journal ? `puts ${target.database} back as it was and ` : ''}drops ${fresh}`);
    return journal === undefined;
  }
  try {
    if (journal && !(await undoOrSay(client, journal, old, notice))) return false;
    if (!journal) await dropKitDatabase(client, old);
    const failure = await dropKitDatabase(client, fresh);
    if (failure) notice(`could not drop ${fresh} (${failure}); the next restore on this host drops it`);
    if (createdTarget) await dropKitDatabase(client, target.database);
    return true;
  } finally {
    await client.end();
  }
}

/** Every table the backup recorded is in the loaded copy with the rows it recorded. */
async function checkRows(client: MySqlClient, database: string, expected: Record<string, number>): Promise<void> {
  const loaded = new Set(await baseTables(client, database));
  for (const [table, rows] of Object.entries(expected)) {
    if (!loaded.has(table)) throw new KitError('ROW_COUNT_MISMATCH', `Table ${quoteName(table)} is missing after restoring, though the backup recorded ${rows} rows in it. The restored copy was dropped; the target is unchanged.`);
    const { rows: counted } = await client.query<{ n: string | number }>(`SELECT COUNT(*) AS n FROM ${quoteName(database)}.${quoteName(table)}`);
    const actual = Number(counted[0]!.n);
    if (actual !== rows) throw new KitError('ROW_COUNT_MISMATCH', `Row counts differ after restoring: table ${quoteName(table)} has ${actual} rows, the backup recorded ${rows}. The restored copy was dropped; the target is unchanged.`);
  }
}

async function writeJournal(client: MySqlClient, database: string, fresh: string, old: string, keepOld: boolean, facts: Awaited<ReturnType<typeof databaseFacts>>): Promise<Journal> {
  const journal: Journal = {
    database,
    fresh,
    targetTables: await baseTables(client, database),
    freshTables: await baseTables(client, fresh),
    targetObjects: await readObjects(client, database),
    freshObjects: await readObjects(client, fresh),
    keepOld,
  };
  await createMarkedDatabase(client, old, 'previous copy of', database, facts);
  await client.query(`CREATE TABLE ${quoteName(old)}.${JOURNAL} (k VARCHAR(32) NOT NULL PRIMARY KEY, v LONGTEXT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`);
  await client.query(`INSERT INTO ${quoteName(old)}.${JOURNAL} (k, v) VALUES ('journal', ?)`, [JSON.stringify(journal)]);
  return journal;
}

/** One RENAME TABLE: `pairs` of [from database, to database, table]. Nothing to move is no statement. */
async function renameTables(client: MySqlClient, pairs: Array<[string, string, string]>): Promise<void> {
  if (pairs.length === 0) return;
  const moves = pairs.map(([from, to, table]) => `${quoteName(from)}.${quoteName(table)} TO ${quoteName(to)}.${quoteName(table)}`);
  await client.query(`RENAME TABLE ${moves.join(', ')}`);
}

async function swapIn(client: MySqlClient, journal: Journal, old: string, env: NodeJS.ProcessEnv, reporter: Reporter): Promise<void> {
  const { database, fresh } = journal;
  await dropObjects(client, fresh, ['TRIGGER']);
  await dropObjects(client, database, ['TRIGGER']);
  await renameTables(client, [...journal.targetTables.map((t): [string, string, string] => [database, old, t]), ...journal.freshTables.map((t): [string, string, string] => [fresh, database, t])]);
  await pauseForTest(env, 'after-rename', reporter);
  await dropObjects(client, database);
  await createObjects(client, database, journal.freshObjects);
  await client.query(`INSERT INTO ${quoteName(old)}.${JOURNAL} (k, v) VALUES ('committed', '1')`);
  await pauseForTest(env, 'after-commit', reporter);
}

/** After the commit mark: the loaded copy's leftovers go, and the old tables too unless kept. */
async function finish(client: MySqlClient, journal: Journal, old: string, notice: (message: string) => void): Promise<string | undefined> {
  const fresh = await dropKitDatabase(client, journal.fresh);
  if (fresh) notice(`the restore is in place, but ${journal.fresh} could not be dropped (${fresh}); the next restore on this host drops it`);
  if (journal.keepOld) {
    await client.query(`DROP TABLE IF EXISTS ${quoteName(old)}.${JOURNAL}`);
    await client.query(`ALTER DATABASE ${quoteName(old)} COMMENT = ${quoteString(`pg-backup-kit: the tables of "${journal.database}" before a restore, kept by --keep-old`)}`);
    return old;
  }
  const failure = await dropKitDatabase(client, old);
  if (!failure) return undefined;
  notice(`the restore is in place, but the previous tables could not be dropped (${failure}); they are kept in ${old}: drop it with DROP DATABASE ${quoteName(old)}`);
  return old;
}

/**
 * Put the target back as the journal found it: its tables renamed back in one statement when
 * they had moved (the fresh tables return to the loaded copy), its own objects made again.
 * Safe to run again after it was itself cut short.
 */
async function undo(client: MySqlClient, journal: Journal, old: string): Promise<void> {
  const { database, fresh } = journal;
  const inOld = new Set((await baseTables(client, old)).filter((t) => t !== JOURNAL));
  const inTarget = new Set(await baseTables(client, database));
  const inFresh = new Set(await baseTables(client, fresh).catch(() => [] as string[]));
  const renamed = journal.targetTables.length > 0 ? journal.targetTables.every((t) => inOld.has(t)) : journal.freshTables.length > 0 && journal.freshTables.every((t) => !inFresh.has(t) && inTarget.has(t));
  if (!renamed) {
    // The target's tables never moved: its objects are its own, less the triggers the swap
    // dropped (or, after an undo cut short, less those not yet made again). Only those are made.
    const present = await objectKeys(client, database);
    await createObjects(client, database, journal.targetObjects.filter((o) => !present.has(`${o.kind} ${o.name}`)));
    return;
  }
  await dropObjects(client, database);
  if (inFresh.size === 0) await client.query(`CREATE DATABASE IF NOT EXISTS ${quoteName(fresh)} COMMENT ${quoteString(markerText('restore of', database))}`);
  await renameTables(client, [...journal.freshTables.filter((t) => inTarget.has(t)).map((t): [string, string, string] => [database, fresh, t]), ...journal.targetTables.map((t): [string, string, string] => [old, database, t])]);
  await createObjects(client, database, journal.targetObjects);
}

/** Undo, or say why not and leave the journal for the next run: whether the target is back. */
async function undoOrSay(client: MySqlClient, journal: Journal, old: string, notice: (message: string) => void): Promise<boolean> {
  try {
    await undo(client, journal, old);
    await dropKitDatabase(client, old);
    return true;
  } catch (error) {
    notice(`the restore failed and putting ${journal.database} back failed too (${error instanceof Error ? error.message : String(error)}); ${old} keeps what is needed: run pnpm db:restore again on this host to finish putting it back`);
    return false;
  }
}

async function readJournal(client: MySqlClient, old: string): Promise<{ journal: Journal; committed: boolean } | undefined> {
  const tables = await baseTables(client, old);
  if (!tables.includes(JOURNAL)) return undefined;
  const { rows } = await client.query<{ k: string; v: string }>(`SELECT k, v FROM ${quoteName(old)}.${JOURNAL}`);
  const entry = rows.find((r) => r.k === 'journal');
  return entry ? { journal: JSON.parse(entry.v) as Journal, committed: rows.some((r) => r.k === 'committed') } : undefined;
}

/**
 * Clean up after kit runs on this host that were killed outright: a swap cut short is finished
 * when its journal says committed and undone when it does not; then their marked databases go.
 * Databases of a run that is still alive, or of another host, are left alone.
 */
export async function repairLeftovers(target: Target, notice: (message: string) => void): Promise<void> {
  let client: MySqlClient;
  try {
    client = await openMySql(serverTarget(target));
  } catch {
    return; // the run's own connection says what is wrong with the server
  }
  try {
    const orphans = (await markedDatabases(client)).filter((d) => d.marker.host === hostname() && !processAlive(d.marker.pid));
    if (orphans.length === 0) return;
    // A killed kit's client dies with it, but the server finishes the statement it was running
    // (and keeps its table locks) before it notices: those sessions work only for the dead run.
    await endSessionsIn(client, orphans.map((o) => o.name), notice);
    await client.query('SET SESSION lock_wait_timeout = 30');
    // Old databases first: their journals need the loaded copies an undo renames tables back into.
    for (const orphan of orphans.filter((d) => d.marker.purpose === 'previous copy of')) await repairSwap(client, orphan, notice);
    for (const orphan of orphans.filter((d) => d.marker.purpose !== 'previous copy of')) {
      const failure = await dropKitDatabase(client, orphan.name);
      notice(failure ? `could not drop ${orphan.name}, left by a kit run (pid ${orphan.marker.pid}) that was killed (${failure}); the next run tries again` : `dropped ${orphan.name}, left behind by a kit run (pid ${orphan.marker.pid}) that was killed`);
    }
  } finally {
    await client.end();
  }
}

async function endSessionsIn(client: MySqlClient, databases: string[], notice: (message: string) => void): Promise<void> {
  const { rows } = await client.query<{ id: number | string; db: string }>(
    'SELECT ID AS id, DB AS db FROM information_schema.PROCESSLIST WHERE DB IN (?) AND ID <> CONNECTION_ID()',
    [databases],
  );
  for (const row of rows) {
    await client.query(`KILL CONNECTION ${Number(row.id)}`).catch(() => undefined);
    notice(`ended session ${row.id}, still working in ${row.db} for a kit run that was killed`);
  }
}

async function repairSwap(client: MySqlClient, orphan: MarkedDatabase, notice: (message: string) => void): Promise<void> {
  const found = await readJournal(client, orphan.name);
  if (!found) {
    await dropKitDatabase(client, orphan.name);
    return;
  }
  const { journal, committed } = found;
  if (committed) {
    await finish(client, journal, orphan.name, notice);
    notice(`finished a restore of ${journal.database} that was killed after its swap (pid ${orphan.marker.pid}): the restored data is in place`);
    return;
  }
  await undo(client, journal, orphan.name);
  await dropKitDatabase(client, orphan.name);
  await dropKitDatabase(client, journal.fresh);
  notice(`undid a restore of ${journal.database} that was killed while swapping tables (pid ${orphan.marker.pid}): ${journal.database} is as it was before`);
}
