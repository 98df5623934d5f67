/**
 * Prove a restored directory: start a private server on it (a free port, no TCP listener, a
 * private socket and pg_hba.conf, so nobody else can connect while it recovers), wait until
 * recovery reached its target and promoted (or, for a standby, until it is consistent), run the
 * --post-init SQL, check every database answers, and stop it again.
 */
import { chown, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { KitError } from '../errors.js';
import { freePort } from '../engines/postgres/cluster.js';
import { locateServerTool, runProgram } from '../proc/programs.js';
import { majorOf } from '../engines/postgres/connect.js';
import { ident } from '../engines/postgres/quote.js';
import type { PhysicalInfo } from './info.js';
import { classifyRecoveryLog, unreadableRecordIn, type RecoveryTarget } from './recovery.js';
import { parseLsn, SEGMENT_NAME, segmentOfLsn } from './wal-names.js';
import { runningServerPid, scratchDir, type ServerControl } from './server-control.js';
import { unloggedIn } from './unlogged.js';

export interface ProveOptions {
  info: PhysicalInfo;
  target: RecoveryTarget;
  standby: boolean;
  postInitDir: string | undefined;
  keepArchiving: boolean;
  timeoutSeconds: number;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** verify --deep: also read every table. */
  readTables?: boolean;
  /** The names in the WAL archive recovery reads, to tell a damaged segment from the archive's end. */
  archivedWal?: () => Promise<string[]>;
}

export interface ProofResult {
  promoted: boolean;
  timeline: number;
  databases: string[];
  tables: number;
  /** UNLOGGED tables ("database: schema.table"): empty after recovery, as PostgreSQL makes them. */
  unlogged: string[];
  postInit: string[];
}

/**
 * Recovery that stopped at an unreadable record, in a segment the archive holds later WAL than,
 * stopped at damage, not at the archive's end: PostgreSQL cannot tell the two apart, the kit can.
 */
async function damagedSegment(log: string, options: ProveOptions): Promise<string | undefined> {
  const record = unreadableRecordIn(log);
  if (!record || !options.archivedWal) return undefined;
  const size = options.info.server.walSegmentSize;
  const segment = record.segment ?? segmentOfLsn(options.info.wal.timeline, parseLsn(record.lsn!), size);
  const later = (await options.archivedWal().catch(() => [])).filter((n) => SEGMENT_NAME.test(n) && n.slice(0, 8) === segment.slice(0, 8) && n > segment);
  if (later.length === 0) return undefined;
  return `PostgreSQL found ${record.what}${record.lsn ? ` at ${record.lsn}` : ''} in WAL segment ${segment}, though the archive holds later segments (up to ${later.sort().at(-1)}): that segment is damaged`;
}

async function failureFromLog(logFile: string, what: string, options: ProveOptions): Promise<KitError> {
  const log = await readFile(logFile, 'utf8').catch(() => '');
  const { notReached, reason, unusableWal } = classifyRecoveryLog(log);
  const damaged = notReached && !unusableWal ? await damagedSegment(log, options) : undefined;
  if (damaged) {
    return new KitError('RECOVERY_TARGET_NOT_REACHED', `Recovery did not reach its target: ${damaged}, so recovery stopped there. Repair the archive from another copy, or recover to an earlier moment; no server was opened at the wrong point.`, { detail: log.slice(-8000) });
  }
  if (notReached && unusableWal) {
    // PostgreSQL takes a failed restore_command for the end of the archive; the kit knows better.
    return new KitError('RECOVERY_TARGET_NOT_REACHED', `Recovery did not reach its target: a WAL file it needed could not be used (wal-fetch said: ${unusableWal}), so recovery stopped there. Repair the archive from another copy, or recover to an earlier moment; no server was opened at the wrong point.`, { detail: log.slice(-8000) });
  }
  if (notReached) {
    return new KitError('RECOVERY_TARGET_NOT_REACHED', `Recovery did not reach its target: ${reason}. The archive holds no WAL up to that moment; no server was opened at the wrong point.`, { detail: log.slice(-8000) });
  }
  return new KitError('RECOVERY_FAILED', `${what}: ${reason}`, { detail: log.slice(-8000) });
}

async function connectSocket(socketDir: string, port: number, user: string, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({ host: socketDir, port, user, database });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function waitForPromotion(client: pg.Client, dataDir: string, logFile: string, deadline: number, signal: AbortSignal): Promise<void> {
  for (;;) {
    if (signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted while the restored server was recovering.');
    const rows = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r').then((r) => r.rows, () => undefined);
    if (rows && rows[0]?.r === false) return;
    // Not a KitError: the caller waits for the server to finish stopping, then reads its log.
    if (!rows || runningServerPid(dataDir) === undefined) throw new Error('it stopped during recovery');
    if (Date.now() > deadline) throw new KitError('RECOVERY_FAILED', `Recovery did not finish within the time allowed (--timeout). The server log is ${logFile}.`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function proveServer(server: ServerControl, dataDir: string, options: ProveOptions): Promise<ProofResult> {
  const owner = server.owner();
  const run = await scratchDir('pgkit-prove-', owner);
  const logFile = path.join(run, 'server.log');
  const hba = path.join(run, 'pg_hba.conf');
  await writeFile(hba, 'local all all trust\n', { mode: 0o600 });
  if (owner) await chown(hba, owner.uid, owner.gid);
  const port = await freePort();
  const settings: Record<string, string> = { port: String(port), listen_addresses: '', unix_socket_directories: run, hba_file: hba };
  if (!options.keepArchiving) settings.archive_mode = 'off';
  const deadline = Date.now() + options.timeoutSeconds * 1000;
  let started = false;
  try {
    try {
      await server.start(dataDir, { settings, logFile, timeoutSeconds: options.timeoutSeconds });
      started = true;
    } catch (error) {
      started = runningServerPid(dataDir) !== undefined;
      throw await failureFromLog(logFile, `The restored server did not start (${(error as Error).message})`, options);
    }
    try {
      return await checkServer(dataDir, run, port, logFile, deadline, options);
    } catch (error) {
      if (error instanceof KitError) throw error;
      // A connection cut under us: the server went down during recovery. Its log says why, once
      // it has finished shutting down.
      await waitForExit(dataDir, 10_000);
      throw await failureFromLog(logFile, `The restored server failed (${(error as Error).message})`, options);
    }
  } finally {
    if (started || runningServerPid(dataDir) !== undefined) await server.stop(dataDir, 'fast').catch(() => server.stop(dataDir, 'immediate').catch(() => undefined));
    await rm(run, { recursive: true, force: true });
  }
}

async function waitForExit(dataDir: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (runningServerPid(dataDir) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}

async function checkServer(dataDir: string, run: string, port: number, logFile: string, deadline: number, options: ProveOptions): Promise<ProofResult> {
  let client = await connectSocket(run, port, options.info.server.user);
  const superuser = (await client.query<{ n: string }>('SELECT rolname AS n FROM pg_roles WHERE oid = 10')).rows[0]!.n;
  if (superuser !== options.info.server.user) {
    await client.end();
    client = await connectSocket(run, port, superuser);
  }
  try {
    if (!options.standby) await waitForPromotion(client, dataDir, logFile, deadline, options.signal);
    const postInit = options.postInitDir ? await runPostInit(options, run, port, superuser) : [];
    const facts = await answerCheck(client, run, port, superuser, options.readTables === true);
    const timeline = Number((await client.query<{ t: string }>('SELECT timeline_id::text AS t FROM pg_control_checkpoint()')).rows[0]!.t);
    return { promoted: !options.standby, timeline, ...facts, postInit };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Every database opens; with readTables, every table of every database is read through. */
async function answerCheck(client: pg.Client, socketDir: string, port: number, user: string, readTables: boolean): Promise<{ databases: string[]; tables: number; unlogged: string[] }> {
  const databases = (await client.query<{ d: string }>('SELECT datname AS d FROM pg_database WHERE datallowconn ORDER BY 1')).rows.map((r) => r.d);
  let tables = 0;
  const unlogged: string[] = [];
  for (const database of databases) {
    const db = await connectSocket(socketDir, port, user, database);
    try {
      const list = (await db.query<{ s: string; t: string }>(`SELECT n.nspname AS s, c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`)).rows;
      tables += list.length;
      unlogged.push(...(await unloggedIn(db, database)));
      for (const { s, t } of readTables ? list : []) {
        await db.query(`SELECT count(*) FROM ${ident(s)}.${ident(t)}`).catch((error: Error) => {
          throw new KitError('RECOVERY_FAILED', `Table ${s}.${t} in database ${database} does not answer after recovery: ${error.message}`);
        });
      }
    } finally {
      await db.end().catch(() => undefined);
    }
  }
  return { databases, tables, unlogged };
}

/** Each .sql file of --post-init, in name order, in its own transaction, stopping at the first error. */
async function runPostInit(options: ProveOptions, socketDir: string, port: number, user: string): Promise<string[]> {
  const dir = options.postInitDir!;
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  const psql = await locateServerTool('psql', majorOf(options.info.server.versionNum), options.env, true);
  for (const file of files) {
    await runProgram(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-h', socketDir, '-p', String(port), '-U', user, '-d', 'postgres', '-f', path.join(dir, file)], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' },
      failure: 'RECOVERY_FAILED',
      explain: (stderr) => new KitError('RECOVERY_FAILED', `--post-init ${file} failed: ${stderr.split('\n').filter((l) => /ERROR|FATAL/.test(l)).at(-1) ?? stderr}. The restore was undone.`, { detail: stderr }),
    });
  }
  return files;
}
