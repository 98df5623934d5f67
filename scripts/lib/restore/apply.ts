/**
 * The two ways a restore changes the target, both all-or-nothing:
 *  - one transaction: the script streams through the kit into psql inside the kit's own
 *    BEGIN … COMMIT, with the target emptied first and row counts checked before COMMIT;
 *  - a fresh database (--jobs, --create): restored beside the target, checked, then swapped in
 *    by renaming both in one transaction; the old one is dropped only after the swap.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connect, type Client } from '../pg/connect.js';
import { locateTool, spawnTool, type LocatedTool } from '../proc/pg-tools.js';
import type { Reporter } from '../context.js';
import type { RestoreSource } from './source.js';
import { FOREIGN_KEY_MARKER } from './sql.js';
import { ident, literal } from '../pg/quote.js';
import { RestoreScript } from './script.js';
import { parseCopyTarget } from '../format/stats.js';

export interface ScriptPlan {
  /** pg_restore options for archives (mode, ownership). */
  pgRestoreArgs: string[];
  prelude: string;
  dropOwnership: boolean;
  dropPrivileges: boolean;
  /** Rows each table must hold before COMMIT. */
  expectedRows: Record<string, number>;
  /** Further checks before COMMIT (foreign keys after a data reload). */
  checks: string;
  totalItems: number;
  showLines: boolean;
}

/**
 * The rows each COPY loaded (psql's "COPY n", in script order) against the backup's counts.
 * Pure. Throws before COMMIT is written, so a mismatch rolls the restore back.
 */
export function compareRows(tables: string[], copied: number[], expected: Record<string, number>, afterwards = 'The restore was rolled back; the target is unchanged.'): void {
  if (tables.length !== copied.length) {
    throw new KitError('RESTORE_FAILED', `psql reported ${copied.length} COPY results for ${tables.length} tables. ${afterwards}`);
  }
  const loaded = new Map<string, number>();
  tables.forEach((table, i) => loaded.set(table, (loaded.get(table) ?? 0) + copied[i]!));
  for (const [table, rows] of Object.entries(expected)) {
    const actual = loaded.get(table) ?? 0;
    if (actual !== rows) throw new KitError('ROW_COUNT_MISMATCH', `Row counts differ after restoring: table ${table} has ${actual} rows, the backup recorded ${rows}. ${afterwards}`);
  }
}

function psqlFailure(stderr: string): KitError {
  const lines = stderr.split('\n').map((l) => l.replace(/^psql:<stdin>:\d+: /, '').trim()).filter(Boolean);
  const error = lines.find((l) => /^(ERROR|FATAL):/.test(l)) ?? lines.at(-1) ?? 'psql failed';
  if (error.includes(FOREIGN_KEY_MARKER)) {
    return new KitError('RESTORE_FAILED', `${error.replace(/^ERROR:\s+/, '').replace(`${FOREIGN_KEY_MARKER}: `, 'The restored data would break foreign key ')}. Restore the related tables too (or use --data-only for all of them). The restore was rolled back; the target is unchanged.`, { detail: stderr });
  }
  return new KitError('RESTORE_FAILED', `The restore failed and was rolled back; the target is unchanged. PostgreSQL said: ${error.replace(/^(ERROR|FATAL):\s+/, '')}`, { detail: stderr });
}

/** Restore in one transaction through psql. Nothing is committed unless the source ended cleanly. */
export async function applyInTransaction(
  target: Target,
  source: RestoreSource,
  plan: ScriptPlan,
  tools: { psql: LocatedTool; pgRestore: LocatedTool | undefined },
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<void> {
  const childEnvironment = childEnv(target, env);
  const script = new RestoreScript({
    prelude: plan.prelude,
    dropOwnership: plan.dropOwnership && !tools.pgRestore,
    dropPrivileges: plan.dropPrivileges && !tools.pgRestore,
    onItem: (header) => reporter.progress({ phase: 'restoring', bytes: 0, done: script.items, total: plan.totalItems, ...(plan.showLines ? { detail: header } : {}) }),
  });
  // Not quiet: psql prints each statement's tag, and "COPY n" is the server's own count of the
  // rows each COPY loaded. At the end it prints the marker that says it has executed everything
  // but COMMIT.
  const psql = spawnTool(tools.psql, ['-X', '-v', 'ON_ERROR_STOP=1', '-f', '-'], { env: childEnvironment, failure: 'RESTORE_FAILED', stdio: ['pipe', 'pipe', 'pipe'] });
  const marker = `pg-backup-kit:ready-to-commit:${randomBytes(8).toString('hex')}`;
  const copied: number[] = [];
  const readyToCommit = new Promise<void>((resolve) => {
    let partial = '';
    psql.child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString('latin1')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const copy = /^COPY (\d+)$/.exec(line);
        if (copy) copied.push(Number(copy[1]));
        else if (line === marker) resolve();
      }
    });
  });
  const psqlDone = psql.done.catch(() => {
    throw psqlFailure(psql.stderr.toString());
  });
  psqlDone.catch(() => undefined);

  let producer: ReturnType<typeof spawnTool> | undefined;
  let input: Readable[];
  if (tools.pgRestore) {
    // pg_restore makes the script one transaction itself (and leaves out the per-large-object
    // BEGIN/COMMIT); the kit only holds back its final COMMIT.
    producer = spawnTool(tools.pgRestore, ['--file=-', '--single-transaction', ...plan.pgRestoreArgs, source.file], { env: childEnvironment, failure: 'INTEGRITY_FAILED' });
    producer.done.catch(() => undefined); // awaited below; a kill on failure must not go unhandled
    input = [producer.child.stdout!];
  } else {
    const raw = createReadStream(source.file, { highWaterMark: 1 << 18 });
    input = source.format === 'sql.gz' ? [raw, createGunzip()] : [raw];
  }
  const stop = () => {
    producer?.child.kill('SIGTERM');
    psql.child.kill('SIGTERM');
  };
  signal.addEventListener('abort', stop, { once: true });
  const watcher = watchCopyProgress(target, plan, () => script.items, reporter);
  try {
    // Stream everything but the ending; the transaction stays open.
    const streams: NodeJS.ReadWriteStream[] = [...input, script] as unknown as NodeJS.ReadWriteStream[];
    const streamed = pipeline([...streams, psql.child.stdin!], { end: false });
    await Promise.race([streamed, psqlDone]);
    await producer?.done;
    signal.throwIfAborted();
    if (!script.complete) {
      throw new KitError('INTEGRITY_FAILED', 'The backup\'s script ended before pg_dump\'s completion trailer; the restore was rolled back and the target is unchanged.');
    }
    // Checks first, then a handshake: COMMIT is written only once psql has executed everything
    // else and the rows loaded are the rows the backup recorded. Until then, a kit that dies
    // leaves psql at end of input without COMMIT: rolled back.
    psql.child.stdin!.write(`\n${plan.checks}\n\\echo ${marker}\n`);
    await Promise.race([readyToCommit, psqlDone]);
    signal.throwIfAborted();
    compareRows(script.copies, copied, plan.expectedRows);
    psql.child.stdin!.end('COMMIT;\n');
    await psqlDone;
  } catch (error) {
    // Closing psql without COMMIT rolls the transaction back.
    psql.child.kill('SIGTERM');
    producer?.child.kill('SIGTERM');
    await psql.done.catch(() => undefined);
    if (signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted. The restore was rolled back; the target is unchanged.');
    if (error instanceof KitError && error.code === 'INTEGRITY_FAILED' && producer) {
      throw new KitError('INTEGRITY_FAILED', `The archive could not be read to its end (${error.message}). The restore was rolled back; the target is unchanged.`, { detail: error.detail });
    }
    // psql's own error explains more than a broken pipe does
    const psqlError = await psqlDone.then(() => undefined, (e: unknown) => e);
    throw (error as NodeJS.ErrnoException).code === 'EPIPE' && psqlError ? psqlError : error;
  } finally {
    signal.removeEventListener('abort', stop);
    await watcher.stop();
  }
}

/**
 * Sections sent to psql run ahead of what it has executed (a pipe holds a lot of script), so
 * the server is asked what its COPY is doing: "copying public.orders: 120000 of 500000 rows".
 */
function watchCopyProgress(target: Target, plan: ScriptPlan, itemsSent: () => number, reporter: Reporter): { stop(): Promise<void> } {
  let client: Client | undefined;
  let stopped = false;
  const poll = async () => {
    try {
      client ??= await connect(target);
      // The table was created in the restore's own, uncommitted transaction: other sessions cannot
      // resolve its OID to a name, but the COPY statement names it.
      const { rows } = await client.query<{ query: string; n: string }>(
        `SELECT a.query, p.tuples_processed::text AS n
           FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
          WHERE a.datname = current_database() AND a.application_name = 'pg-backup-kit' AND p.command = 'COPY FROM'`,
      );
      const copy = rows[0];
      const table = copy ? parseCopyTarget(copy.query) : undefined;
      if (copy && table && !stopped) {
        const expected = plan.expectedRows[table];
        reporter.progress({ phase: 'restoring', bytes: 0, done: itemsSent(), total: plan.totalItems, detail: `copying ${table}: ${copy.n}${expected !== undefined ? ` of ${expected}` : ''} rows` });
      }
    } catch {
      // progress is a courtesy: a server without pg_stat_progress_copy (before 14) just shows less
    }
  };
  const timer = setInterval(() => void poll(), 1000);
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

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

export interface SwapPlan {
  jobs: number;
  pgRestoreArgs: string[];
  keepOld: boolean;
  expectedRows: Record<string, number>;
  stamp: string;
}

async function adminConnection(target: Target): Promise<Client> {
  try {
    return await connect({ ...target, database: 'postgres' });
  } catch {
    return connect({ ...target, database: 'template1' });
  }
}

/**
 * Restore into a fresh database beside the target, check it, then swap it in. The target is
 * untouched until the swap, and the swap is one transaction of two renames.
 */
export async function applyBySwap(
  target: Target,
  source: RestoreSource,
  plan: SwapPlan,
  scriptPlan: ScriptPlan,
  tools: { psql: LocatedTool; pgRestore: LocatedTool | undefined },
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  signal: AbortSignal,
): Promise<{ oldDatabase: string | undefined }> {
  const admin = await adminConnection(target);
  const fresh = scratchName(target.database, 'kit_new', plan.stamp);
  const old = scratchName(target.database, 'kit_old', plan.stamp);
  let created = false;
  let connectionsBlocked = false;
  try {
    const facts = await databaseFacts(admin, target.database);
    const options = facts.exists
      ? ` OWNER ${ident(facts.owner)} ENCODING ${ident(facts.encoding)} LC_COLLATE ${ident(facts.collate)} LC_CTYPE ${ident(facts.ctype)}`
      : '';
    await admin.query(`CREATE DATABASE ${ident(fresh)} TEMPLATE template0${options}`);
    created = true;
    const freshTarget: Target = { ...target, database: fresh };
    reporter.progress({ phase: `restoring into ${fresh}`, bytes: 0 });
    if (source.format === 'dump' && tools.pgRestore) {
      const restore = spawnTool(tools.pgRestore, ['--exit-on-error', `--jobs=${plan.jobs}`, `--dbname=${fresh}`, ...plan.pgRestoreArgs, source.file], {
        env: childEnv(freshTarget, env),
        failure: 'RESTORE_FAILED',
      });
      const stop = () => restore.child.kill('SIGTERM');
      signal.addEventListener('abort', stop, { once: true });
      try {
        await restore.done;
      } catch (error) {
        throw new KitError('RESTORE_FAILED', `Restoring into ${fresh} failed; the target was not touched. ${(error as KitError).message}`, { detail: (error as KitError).detail });
      } finally {
        signal.removeEventListener('abort', stop);
      }
      await checkRows(freshTarget, plan.expectedRows);
    } else {
      await applyInTransaction(freshTarget, source, scriptPlan, tools, env, reporter, signal);
    }
    signal.throwIfAborted();
    // Database-level settings belong to the target environment, not to the backup.
    for (const setting of facts.settings) {
      const eq = setting.indexOf('=');
      await admin.query(`ALTER DATABASE ${ident(fresh)} SET ${ident(setting.slice(0, eq))} = ${literal(setting.slice(eq + 1))}`);
    }
    if (facts.comment !== null) await admin.query(`COMMENT ON DATABASE ${ident(fresh)} IS ${literal(facts.comment)}`);
    if (facts.grants.length) {
      await admin.query(`REVOKE ALL ON DATABASE ${ident(fresh)} FROM PUBLIC`);
      for (const g of facts.grants) await admin.query(`GRANT ${g.privilege} ON DATABASE ${ident(fresh)} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
    }

    reporter.progress({ phase: 'swapping databases', bytes: 0 });
    if (facts.exists) {
      await admin.query(`ALTER DATABASE ${ident(target.database)} WITH ALLOW_CONNECTIONS false`);
      connectionsBlocked = true;
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [target.database]);
      await admin.query('BEGIN');
      await admin.query(`ALTER DATABASE ${ident(target.database)} RENAME TO ${ident(old)}`);
      await admin.query(`ALTER DATABASE ${ident(fresh)} RENAME TO ${ident(target.database)}`);
      await admin.query('COMMIT');
      created = false;
      connectionsBlocked = false;
      if (!plan.keepOld) {
        await admin.query(`DROP DATABASE ${ident(old)} WITH (FORCE)`);
        return { oldDatabase: undefined };
      }
      return { oldDatabase: old };
    }
    await admin.query(`ALTER DATABASE ${ident(fresh)} RENAME TO ${ident(target.database)}`);
    created = false;
    return { oldDatabase: undefined };
  } catch (error) {
    await admin.query('ROLLBACK').catch(() => undefined);
    if (connectionsBlocked) await admin.query(`ALTER DATABASE ${ident(target.database)} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    if (created) await admin.query(`DROP DATABASE IF EXISTS ${ident(fresh)} WITH (FORCE)`).catch(() => undefined);
    throw error;
  } finally {
    await admin.end().catch(() => undefined);
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

export async function locatePsql(serverMajor: number, env: NodeJS.ProcessEnv): Promise<LocatedTool> {
  return locateTool('psql', serverMajor, env);
}
