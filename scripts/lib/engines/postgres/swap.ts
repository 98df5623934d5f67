/**
 * Restores into a fresh database beside the target (--jobs, --create), and the scratch databases
 * of deep verification. The target is untouched until the swap, and the swap is one transaction
 * of two renames.
 *
 * Every database the kit creates carries a comment naming the process that made it (host and
 * pid). A run killed outright (kill -9, a power cut) cannot clean up after itself, so the next run
 * does: a scratch database whose maker is gone is dropped, and a target left refusing connections
 * by a swap cut short is opened again (its renames had not committed, so it is the target as it
 * was).
 */
import { hostname } from 'node:os';
import { KitError } from '../../errors.js';
import { childEnv, type Target } from '../../config/target.js';
import { connect, type Client } from './connect.js';
import { spawnTool, type LocatedTool } from './tools.js';
import { processAlive } from '../../proc/process.js';
import type { Reporter } from '../../context.js';
import type { RestoreSource } from './artifacts.js';
import { ident, literal } from './quote.js';
import { parseScratchMarker, scratchMarker } from './scratch-marker.js';
import { applyInTransaction, type ScriptPlan } from './apply.js';
import { pauseForTest } from '../test-pause.js';

export interface DatabaseFacts {
  exists: boolean;
  owner: string;
  encoding: string;
  collate: string;
  ctype: string;
  settings: string[];
  comment: string | null;
  grants: Array<{ grantee: string; privilege: string; grantable: boolean }>;
}

export async function databaseFacts(admin: Client, name: string): Promise<DatabaseFacts> {
  const { rows } = await admin.query<{ owner: string; encoding: string; collate: string; ctype: string; comment: string | null; oid: number }>(
    `SELECT d.oid, pg_get_userbyid(d.datdba) AS owner, pg_encoding_to_char(d.encoding) AS encoding, d.datcollate AS collate, d.datctype AS ctype,
            shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_database d WHERE d.datname = $1`,
    [name],
  );
  const row = rows[0];
  if (!row) return { exists: false, owner: '', encoding: 'UTF8', collate: '', ctype: '', settings: [], comment: null, grants: [] };
  const settings = await admin.query<{ s: string }>(`SELECT unnest(setconfig) AS s FROM pg_db_role_setting WHERE setdatabase = $1 AND setrole = 0`, [row.oid]);
  const grants = await admin.query<{ grantee: string; privilege: string; grantable: boolean }>(
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee, a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_database d, aclexplode(d.datacl) a WHERE d.datname = $1`,
    [name],
  );
  return { exists: true, owner: row.owner, encoding: row.encoding, collate: row.collate, ctype: row.ctype, settings: settings.rows.map((r) => r.s), comment: row.comment, grants: grants.rows };
}

/** A name for the database restored beside the target: recognisable, unique, ≤ 63 bytes. */
export function scratchName(database: string, suffix: string, stamp: string): string {
  const tail = `_${suffix}_${stamp}`;
  let head = database;
  while (Buffer.byteLength(head + tail) > 63) head = head.slice(0, -1);
  return head + tail;
}

// The marker lives beside the connection, which repairs a target a killed swap left closed.
export { parseScratchMarker, scratchMarker };

export async function adminConnection(target: Target): Promise<Client> {
  try {
    return await connect({ ...target, database: 'postgres' });
  } catch {
    return connect({ ...target, database: 'template1' });
  }
}

/** Create an empty scratch database marked as this process's. */
export async function createScratch(admin: Client, name: string, purpose: 'restore of' | 'verification of', database: string, options = ''): Promise<void> {
  await admin.query(`CREATE DATABASE ${ident(name)} TEMPLATE template0${options}`);
  await admin.query(`COMMENT ON DATABASE ${ident(name)} IS ${literal(scratchMarker(purpose, database))}`);
}

/**
 * Drop a database the kit made. DROP … WITH (FORCE) ends the sessions in it but waits only five
 * seconds for them to go (an autovacuum worker, or a backend still sending a long reply on a busy
 * machine, can take longer), so "being accessed by other users" is retried for a while. Never
 * throws: returns why it could not, for the caller to report.
 */
export async function dropKitDatabase(admin: Client, name: string, patienceMs = 30_000): Promise<string | undefined> {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
      return undefined;
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      if (code !== '55006' || Date.now() >= deadline) return message ?? String(error);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

/** Drop a marked scratch database, or say that it is left and who cleans it up. */
export async function dropScratch(admin: Client, name: string, notice: (message: string) => void): Promise<void> {
  const failure = await dropKitDatabase(admin, name);
  if (failure) notice(`could not drop the scratch database ${name} (${failure}); the next kit run on this host drops it, or run: DROP DATABASE ${ident(name)} WITH (FORCE)`);
}

/**
 * Clean up after kit runs that were killed outright, on the target's server: drop their scratch
 * databases, and open again a target their interrupted swap left refusing connections. Only
 * databases whose maker ran on this host and is gone; a copy a client is still connected to is
 * left for a later run (an autovacuum worker analyzing it does not count: the drop ends it).
 * `client`: a connection of the caller's to any database of that server, used and left open.
 */
export async function repairLeftovers(target: Target, notice: (message: string) => void, client?: Client): Promise<void> {
  let admin: Client;
  try {
    admin = client ?? (await adminConnection(target));
  } catch {
    return; // the run's own connection reports what is wrong with the server
  }
  try {
    const { rows } = await admin.query<{ datname: string; comment: string | null; connections: number }>(
      `SELECT d.datname, shobj_description(d.oid, 'pg_database') AS comment,
              (SELECT count(*)::int FROM pg_stat_activity a WHERE a.datname = d.datname AND a.backend_type = 'client backend') AS connections
         FROM pg_database d WHERE shobj_description(d.oid, 'pg_database') LIKE 'pg-backup-kit scratch: %'`,
    );
    for (const row of rows) {
      const marker = parseScratchMarker(row.comment);
      if (!marker || marker.host !== hostname() || processAlive(marker.pid)) continue;
      // The target is opened again whatever is still connected to the copy: it is unchanged.
      if (marker.purpose === 'restore of') {
        const blocked = await admin.query(`SELECT 1 FROM pg_database WHERE datname = $1 AND NOT datallowconn`, [marker.database]);
        if (blocked.rowCount) {
          await admin.query(`ALTER DATABASE ${ident(marker.database)} WITH ALLOW_CONNECTIONS true`);
          notice(`repaired a restore that was killed while swapping databases: ${marker.database} accepts connections again, unchanged`);
        }
      }
      if (row.connections > 0) {
        notice(`left ${row.datname} (made by a kit run, pid ${marker.pid}, that was killed) alone: ${row.connections} session(s) are connected to it; the next run drops it once they are gone`);
        continue;
      }
      const failure = await dropKitDatabase(admin, row.datname);
      notice(failure ? `could not drop ${row.datname}, left behind by a kit run (pid ${marker.pid}) that was killed (${failure}); the next run tries again` : `dropped ${row.datname}, left behind by a kit run (pid ${marker.pid}) that was killed`);
    }
  } finally {
    if (!client) await admin.end().catch(() => undefined);
  }
}

export interface SwapPlan {
  jobs: number;
  pgRestoreArgs: string[];
  keepOld: boolean;
  expectedRows: Record<string, number>;
  stamp: string;
}

interface Tools {
  psql: LocatedTool;
  pgRestore: LocatedTool | undefined;
}

/** pg_restore --jobs straight into the fresh database, then the row counts. */
async function restoreInParallel(fresh: Target, source: RestoreSource, plan: SwapPlan, pgRestore: LocatedTool, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<void> {
  const restore = spawnTool(pgRestore, ['--exit-on-error', `--jobs=${plan.jobs}`, `--dbname=${fresh.database}`, ...plan.pgRestoreArgs, source.file], {
    env: childEnv(fresh, env),
    failure: 'RESTORE_FAILED',
  });
  const stop = () => restore.stop();
  signal.addEventListener('abort', stop, { once: true });
  try {
    await restore.done;
  } catch (error) {
    signal.throwIfAborted();
    throw new KitError('RESTORE_FAILED', `Restoring into ${fresh.database} failed; the target was not touched. ${(error as KitError).message}`, { detail: (error as KitError).detail });
  } finally {
    signal.removeEventListener('abort', stop);
  }
  await checkRows(fresh, plan.expectedRows);
}

/** Database-level settings and grants belong to the target environment, not to the backup. */
async function carrySettings(admin: Client, fresh: string, facts: DatabaseFacts): Promise<void> {
  for (const setting of facts.settings) {
    const eq = setting.indexOf('=');
    await admin.query(`ALTER DATABASE ${ident(fresh)} SET ${ident(setting.slice(0, eq))} = ${literal(setting.slice(eq + 1))}`);
  }
  if (facts.grants.length) {
    await admin.query(`REVOKE ALL ON DATABASE ${ident(fresh)} FROM PUBLIC`);
    for (const g of facts.grants) await admin.query(`GRANT ${g.privilege} ON DATABASE ${ident(fresh)} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
}

/**
 * Connections to the target are refused, its sessions ended, and both renames (with the target's
 * comment replacing the scratch marker) committed as one transaction. A kill before that commit
 * leaves the target as it was (refusing connections until repairLeftovers opens it again).
 */
async function swapIn(admin: Client, target: Target, fresh: string, old: string, facts: DatabaseFacts): Promise<void> {
  await admin.query(`ALTER DATABASE ${ident(target.database)} WITH ALLOW_CONNECTIONS false`);
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target.database]);
    await admin.query('BEGIN');
    await admin.query(`ALTER DATABASE ${ident(target.database)} RENAME TO ${ident(old)}`);
    await admin.query(`ALTER DATABASE ${ident(fresh)} RENAME TO ${ident(target.database)}`);
    await admin.query(`COMMENT ON DATABASE ${ident(target.database)} IS ${facts.comment === null ? 'NULL' : literal(facts.comment)}`);
    await admin.query('COMMIT');
  } catch (error) {
    await admin.query('ROLLBACK').catch(() => undefined);
    await admin.query(`ALTER DATABASE ${ident(target.database)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    throw error;
  }
}

/**
 * Restore into a fresh database beside the target, check it, then swap it in. `admin` is the
 * caller's connection to the server's own database (never the target: the swap renames it).
 */
export async function applyBySwap(target: Target, source: RestoreSource, plan: SwapPlan, scriptPlan: ScriptPlan, tools: Tools, admin: Client, env: NodeJS.ProcessEnv, reporter: Reporter, signal: AbortSignal, onSwap?: () => void): Promise<{ oldDatabase: string | undefined }> {
  const fresh = scratchName(target.database, 'kit_new', plan.stamp);
  const old = scratchName(target.database, 'kit_old', plan.stamp);
  let created = false;
  try {
    const facts = await databaseFacts(admin, target.database);
    const options = facts.exists ? ` OWNER ${ident(facts.owner)} ENCODING ${ident(facts.encoding)} LC_COLLATE ${ident(facts.collate)} LC_CTYPE ${ident(facts.ctype)}` : '';
    await createScratch(admin, fresh, 'restore of', target.database, options);
    created = true;
    const freshTarget: Target = { ...target, database: fresh };
    reporter.progress({ phase: `restoring into ${fresh}`, bytes: 0 });
    if (source.format === 'dump' && tools.pgRestore) await restoreInParallel(freshTarget, source, plan, tools.pgRestore, env, signal);
    else await applyInTransaction(freshTarget, source, scriptPlan, tools, env, reporter, signal);
    signal.throwIfAborted();
    await carrySettings(admin, fresh, facts);
    // The last moment a signal can stop the restore: the swap that follows is the change itself.
    signal.throwIfAborted();
    onSwap?.();
    await pauseForTest(env, 'swap', reporter);

    reporter.progress({ phase: 'swapping databases', bytes: 0 });
    if (!facts.exists) {
      await admin.query('BEGIN');
      await admin.query(`ALTER DATABASE ${ident(fresh)} RENAME TO ${ident(target.database)}`);
      await admin.query(`COMMENT ON DATABASE ${ident(target.database)} IS NULL`);
      await admin.query('COMMIT');
      created = false;
      return { oldDatabase: undefined };
    }
    await swapIn(admin, target, fresh, old, facts);
    created = false;
    if (plan.keepOld) {
      await admin.query(`ALTER DATABASE ${ident(old)} WITH ALLOW_CONNECTIONS true`);
      return { oldDatabase: old };
    }
    const failure = await dropKitDatabase(admin, old);
    if (failure) {
      reporter.notice(`the restore is in place, but the previous copy could not be dropped (${failure}); it is kept as ${old}: drop it with DROP DATABASE ${ident(old)} WITH (FORCE)`);
      return { oldDatabase: old };
    }
    return { oldDatabase: undefined };
  } catch (error) {
    await admin.query('ROLLBACK').catch(() => undefined);
    if (created) await dropScratch(admin, fresh, (message) => reporter.notice(message));
    throw error;
  }
}

/**
 * In the freshly restored copy, every table's insert counter is the rows pg_restore loaded; a
 * table whose counter disagrees (statistics off, say) is counted exactly before it is judged.
 */
async function checkRows(target: Target, expected: Record<string, number>): Promise<void> {
  if (Object.keys(expected).length === 0) return;
  const client = await connect(target);
  try {
    await client.query('SET row_security = off');
    const { rows: counters } = await client.query<{ name: string; n: string }>(
      `SELECT format('%I.%I', schemaname, relname) AS name, n_tup_ins::text AS n FROM pg_stat_user_tables`,
    );
    const inserted = new Map(counters.map((c) => [c.name, Number(c.n)]));
    for (const [table, rows] of Object.entries(expected)) {
      if (inserted.get(table) === rows) continue;
      const actual = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ONLY ${table}`)).rows[0]!.n);
      if (actual !== rows) {
        throw new KitError('ROW_COUNT_MISMATCH', `Row counts differ after restoring: table ${table} has ${actual} rows, the backup recorded ${rows}. The restored copy was dropped; the target is unchanged.`);
      }
    }
  } finally {
    await client.end();
  }
}
