/**
 * The two ways a restore changes the target, both all-or-nothing:
 *  - one transaction: the script streams through the kit into psql inside the kit's own
 *    BEGIN … COMMIT, with the target emptied first and row counts checked before COMMIT;
 *  - a fresh database (--jobs, --create): restored beside the target, checked, then swapped in
 *    by renaming both in one transaction; the old one is dropped only after the swap.
 */
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { KitError } from '../../errors.js';
import { childEnv, type Target } from '../../config/target.js';
import { connect, type Client } from './connect.js';
import { locateTool, spawnTool, startGatedPsql, type LocatedTool } from './tools.js';
import type { Reporter } from '../../context.js';
import { pauseForTest } from '../test-pause.js';
import type { RestoreSource } from './artifacts.js';
import { FOREIGN_KEY_MARKER } from './restore-sql.js';
import { RestoreScript } from './script.js';
import { isLockTimeout, lockTimeoutError } from './locks.js';
import { parseCopyTarget } from './dump-stats.js';

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
  lockTimeoutSeconds: number;
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

interface Tools {
  psql: LocatedTool;
  pgRestore: LocatedTool | undefined;
}

/**
 * psql reading the script from stdin. Not quiet: psql prints each statement's tag, and "COPY n"
 * is the server's own count of the rows each COPY loaded. At the end it prints the marker that
 * says it has executed everything but COMMIT.
 */
function startPsql(target: Target, plan: ScriptPlan, psqlTool: LocatedTool, childEnvironment: NodeJS.ProcessEnv) {
  const { psql, marker, copied, readyToCommit } = startGatedPsql(psqlTool, childEnvironment);
  const done = psql.done.catch(async (error: unknown) => {
    const stderr = psql.stderr.toString();
    if (isLockTimeout(stderr)) throw await lockTimeoutError(target, 'restore', plan.lockTimeoutSeconds, 'The restore was rolled back; the target is unchanged.');
    if (/was killed by/.test((error as Error).message)) {
      throw new KitError('RESTORE_FAILED', `${(error as Error).message}. The restore was rolled back; the target is unchanged.`, { detail: stderr });
    }
    throw psqlFailure(stderr);
  });
  done.catch(() => undefined);
  return { psql, marker, copied, readyToCommit, done };
}

/** The script: pg_restore's output for an archive (one transaction of its own), or the file itself. */
function startSource(source: RestoreSource, plan: ScriptPlan, pgRestore: LocatedTool | undefined, childEnvironment: NodeJS.ProcessEnv) {
  if (pgRestore) {
    // pg_restore makes the script one transaction itself (and leaves out the per-large-object
    // BEGIN/COMMIT); the kit only holds back its final COMMIT.
    const producer = spawnTool(pgRestore, ['--file=-', '--single-transaction', ...plan.pgRestoreArgs, source.file], { env: childEnvironment, failure: 'INTEGRITY_FAILED' });
    producer.done.catch(() => undefined); // awaited by the caller; a kill on failure must not go unhandled
    return { producer, input: [producer.child.stdout!] as Readable[] };
  }
  const raw = createReadStream(source.file, { highWaterMark: 1 << 18 });
  return { producer: undefined, input: (source.format === 'sql.gz' ? [raw, createGunzip()] : [raw]) as Readable[] };
}

/** A failure part-way, in the kit's words: psql's own error beats a broken pipe. */
async function failureOf(error: unknown, psqlDone: Promise<void> | undefined, producer: boolean, signal: AbortSignal): Promise<unknown> {
  const rolledBack = 'The restore was rolled back; the target is unchanged.';
  if (signal.aborted) return new KitError('INTERRUPTED', `Interrupted. ${rolledBack}`);
  const psqlError = await psqlDone?.then(() => undefined, (e: unknown) => e);
  if (error instanceof KitError && error.code === 'INTEGRITY_FAILED' && producer) {
    // pg_restore killed from outside is not a damaged archive
    if (/was killed by/.test(error.message)) return new KitError('RESTORE_FAILED', `${error.message}: it was stopped from outside the kit. ${rolledBack}`, { detail: error.detail });
    return psqlError ?? new KitError('INTEGRITY_FAILED', `The archive could not be read to its end (${error.message}). ${rolledBack}`, { detail: error.detail });
  }
  if (error instanceof KitError) return error;
  if ((error as NodeJS.ErrnoException).code === 'EPIPE' && psqlError) return psqlError;
  if (psqlError) return psqlError;
  return new KitError('INTEGRITY_FAILED', `The backup could not be read to its end (${(error as Error).message}). ${rolledBack}`, { cause: error });
}

/** Sees every byte of the script on its way to psql; its row counts, read once the script has ended, must be what the server loaded. */
export interface StreamObserver {
  push(chunk: Buffer): void;
  rows(): Record<string, number>;
}

export interface ApplyHooks {
  observer?: StreamObserver | undefined;
  /** Called as COMMIT is sent: from then on the restore cannot be taken back. */
  onCommit?: (() => void) | undefined;
  /** The caller's idle connection to the same database: progress is asked through it rather than a new one. */
  connection?: Client | undefined;
}

/**
 * Restore in one transaction through psql. Nothing is committed unless the source ended cleanly.
 * An `observer` (deep verification fingerprints the data on the way in) adds its row counts to
 * the plan's before COMMIT.
 */
export async function applyInTransaction(target: Target, source: RestoreSource, plan: ScriptPlan, tools: Tools, env: NodeJS.ProcessEnv, reporter: Reporter, signal: AbortSignal, hooks: ApplyHooks = {}): Promise<void> {
  const { observer } = hooks;
  const childEnvironment = childEnv(target, env);
  const script = new RestoreScript({
    prelude: plan.prelude,
    dropOwnership: plan.dropOwnership && !tools.pgRestore,
    dropPrivileges: plan.dropPrivileges && !tools.pgRestore,
    onItem: (header) => reporter.progress({ phase: 'restoring', bytes: 0, done: script.items, total: plan.totalItems, ...(plan.showLines ? { detail: header } : {}) }),
  });
  const { psql, marker, copied, readyToCommit, done: psqlDone } = startPsql(target, plan, tools.psql, childEnvironment);
  const { producer, input } = startSource(source, plan, tools.pgRestore, childEnvironment);
  const stop = () => {
    producer?.stop();
    psql.stop();
  };
  signal.addEventListener('abort', stop, { once: true });
  const watcher = watchCopyProgress(target, plan, () => script.items, reporter, hooks.connection);
  try {
    // Stream everything but the ending; the transaction stays open.
    const tap = observer ? [new Transform({ transform: (chunk: Buffer, _encoding, done) => (observer.push(chunk), done(null, chunk)) })] : [];
    const streams = [...input, ...tap, script] as unknown as NodeJS.ReadWriteStream[];
    await Promise.race([pipeline([...streams, psql.child.stdin!], { end: false }), psqlDone]);
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
    await pauseForTest(env, 'before-commit', reporter);
    signal.throwIfAborted();
    compareRows(script.copies, copied, { ...plan.expectedRows, ...observer?.rows() });
    // The point of no return: once COMMIT is on its way the server may have made it, so killing
    // psql could only leave the outcome unknown and the message a guess. A signal now is too late.
    signal.removeEventListener('abort', stop);
    hooks.onCommit?.();
    psql.child.stdin!.end('COMMIT;\n');
    await pauseForTest(env, 'after-commit', reporter);
    await psqlDone;
  } catch (error) {
    // psql closing its input means it is ending: let it say why before anything is killed
    // (the wait's timer is unref'd: once psql has ended it must not hold the process for 5 s)
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') await Promise.race([psql.done.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
    const psqlEndedFirst = psql.child.exitCode !== null || psql.child.signalCode !== null;
    // Ending psql without COMMIT rolls the transaction back.
    psql.stop();
    producer?.stop();
    await psql.done.catch(() => undefined);
    throw await failureOf(error, psqlEndedFirst ? psqlDone : undefined, producer !== undefined, signal);
  } finally {
    signal.removeEventListener('abort', stop);
    await watcher.stop();
  }
}

// The table was created in the restore's own, uncommitted transaction: other sessions cannot
// resolve its OID to a name, but the COPY statement names it. A server too busy to answer must
// not hold up the end of the restore: node-postgres honours query_timeout per query (its types
// know it only per client).
const progressQuery = {
  text: `SELECT a.query, p.tuples_processed::text AS n
           FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid)
          WHERE a.datname = current_database() AND a.application_name = 'pg-backup-kit' AND p.command = 'COPY FROM'`,
  query_timeout: 5000,
} as { text: string };

/**
 * Sections sent to psql run ahead of what it has executed (a pipe holds a lot of script), so
 * the server is asked what its COPY is doing: "copying public.orders: 120000 of 500000 rows".
 */
function watchCopyProgress(target: Target, plan: ScriptPlan, itemsSent: () => number, reporter: Reporter, shared?: Client): { stop(): Promise<void> } {
  let client: Client | undefined = shared;
  let stopped = false;
  const poll = async () => {
    try {
      if (client === undefined) {
        const fresh = await connect(target);
        // stop() may have run while this connection was being made: it is this poll's to close
        if (stopped) return void (await fresh.end().catch(() => undefined));
        client = fresh;
      }
      const { rows } = await client.query<{ query: string; n: string }>(progressQuery);
      const copy = rows[0];
      const table = copy ? parseCopyTarget(copy.query) : undefined;
      if (copy && table && !stopped) {
        const expected = plan.expectedRows[table];
        reporter.progress({ phase: 'restoring', bytes: 0, done: itemsSent(), total: plan.totalItems, detail: `copying ${table}: ${copy.n}${expected !== undefined ? ` of ${expected}` : ''} rows` });
      }
    } catch (error) {
      // Progress is a courtesy: a server without pg_stat_progress_copy (before 14) just shows less.
      if (typeof (error as { code?: unknown }).code === 'string' && /^[0-9A-Z]{5}$/.test((error as { code: string }).code)) return;
      // No answer at all (a timeout, a dropped connection): that connection is not trusted with
      // the next poll, and end() cuts a query still waiting (the caller's own is left to it).
      const failed = client;
      client = undefined;
      if (failed !== shared) await failed?.end().catch(() => undefined);
    }
  };
  // Each poll is scheduled when the previous one has finished, so two never overlap, and the one
  // in flight is always known: stop() waits for it, then closes the connection.
  let inFlight: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(() => {
      inFlight = poll().then(() => (stopped ? undefined : schedule()));
    }, 1000);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
      if (client !== shared) await client?.end().catch(() => undefined);
      client = undefined;
    },
  };
}

export async function locatePsql(serverMajor: number, env: NodeJS.ProcessEnv): Promise<LocatedTool> {
  return locateTool('psql', serverMajor, env);
}
