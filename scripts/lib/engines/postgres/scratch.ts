/**
 * Deep verification's one way into PostgreSQL: restore an artifact into a scratch database that
 * exists only for this, fingerprinting the script as it streams in, and drop the scratch again
 * whatever happens. Also the middle tier of verify: an artifact read back to its end.
 */
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { Reporter } from '../../context.js';
import type { ArtifactInfo, BackupInfo } from '../../format/metadata.js';
import { formatStamp, type Format } from '../../format/naming.js';
import { inspectArchive } from '../../format/archive.js';
import { connect } from './connect.js';
import { locateTool } from './tools.js';
import { DumpStatsCollector, type DumpStats } from './dump-stats.js';
import { readScript, readToc, type RestoreSource } from './artifacts.js';
import { applyInTransaction, type ScriptPlan, type StreamObserver } from './apply.js';
import { createScratch, dropScratch, repairLeftovers, scratchName } from './swap.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS } from './locks.js';

export interface ScratchRequest {
  /** Where the scratch database may be created. */
  server: Target;
  id: string;
  info: BackupInfo;
  /** The artifact as restored: for an encrypted one, its plaintext's name, size and sha256. */
  artifact: ArtifactInfo;
  /** The local plaintext file to restore. */
  file: string;
  serverMajor: number;
  env: NodeJS.ProcessEnv;
  reporter: Reporter;
  signal: AbortSignal;
  now: Date;
}

/** The statistics of what loaded into the scratch database, or why it did not load. */
export type ScratchOutcome = { restored: true; stats: DumpStats } | { restored: false; problem: string };

function noCreateDb(server: Target, error: { code?: string; message?: string }): never {
  if (error.code !== '42501') throw error;
  throw new KitError('NO_CREATEDB', `--deep restores the backup into a scratch database on ${server.host}:${server.port}, and ${server.user} may not create databases (${error.message}). Grant it (ALTER ROLE ${server.user} CREATEDB), or set VERIFY_DATABASE_URL to a server where it may. The quick checks ran; nothing was changed.`);
}

export async function restoreIntoScratch(request: ScratchRequest): Promise<ScratchOutcome> {
  const { server, info, artifact, serverMajor, env, reporter, signal } = request;
  const archive = artifact.format === 'dump' || artifact.format === 'tar';
  const pgRestore = archive ? await locateTool('pg_restore', serverMajor, env) : undefined;
  await repairLeftovers(server, (message) => reporter.notice(message));
  const admin = await connect({ ...server, database: 'postgres' }).catch(() => connect({ ...server, database: 'template1' }));
  const scratch = scratchName(info.database.name, 'kit_verify', formatStamp(request.now).toLowerCase());
  try {
    await createScratch(admin, scratch, 'verification of', info.database.name).catch((error: { code?: string; message?: string }) => noCreateDb(server, error));
    reporter.progress({ phase: `restoring ${artifact.file} into ${scratch}`, bytes: 0 });
    const psql = await locateTool('psql', serverMajor, env);
    if (artifact.format === 'globals') throw new KitError('BAD_ARGUMENT', '--deep restores a dump, not the roles script.');
    // deep checks only ever pick a backup's own formats, never an export's zip
    const source: RestoreSource = { file: request.file, format: artifact.format as Format, info, artifact, id: request.id, header: undefined };
    // The script is fingerprinted as it streams into the scratch database, and before COMMIT the
    // server's own count of the rows each COPY loaded must equal the rows the stream carried: the
    // copy holds exactly the data fingerprinted, without reading it all back out again.
    const collector = new DumpStatsCollector();
    let streamed: DumpStats | undefined;
    const observer: StreamObserver = {
      push: (chunk) => collector.push(chunk),
      rows: () => Object.fromEntries(Object.entries((streamed ??= collector.finish()).tables).map(([table, t]) => [table, t.rows])),
    };
    const plan: ScriptPlan = { pgRestoreArgs: ['--no-owner', '--no-privileges'], prelude: 'SET client_min_messages = warning;', dropOwnership: true, dropPrivileges: true, expectedRows: {}, checks: '', totalItems: 0, showLines: false, lockTimeoutSeconds: DEFAULT_LOCK_TIMEOUT_SECONDS };
    try {
      await applyInTransaction({ ...server, database: scratch }, source, plan, { psql, pgRestore }, env, reporter, signal, { observer });
    } catch (error) {
      return { restored: false, problem: `restoring ${artifact.file} failed: ${error instanceof Error ? error.message : String(error)}` };
    }
    return { restored: true, stats: (streamed ??= collector.finish()) };
  } finally {
    await dropScratch(admin, scratch, (message) => reporter.notice(message));
    await admin.end().catch(() => undefined);
  }
}

/**
 * Verify's middle tier for a dump: a script read to pg_dump's completion trailer (and gunzipped
 * to its end), an archive's table of contents read by a pg_restore that knows its format.
 * `name` is the artifact as stored, for the messages.
 */
export async function readBack(name: string, format: Format, file: string, serverMajor: number, env: NodeJS.ProcessEnv): Promise<{ checks: string[]; problem?: string }> {
  if (format === 'sql' || format === 'sql.gz') {
    const read = await readScript(file, format === 'sql.gz');
    const checks = format === 'sql.gz' ? ['decompresses completely'] : [];
    if (!read.stats.complete) return { checks, problem: `${name} does not end with pg_dump's completion trailer` };
    return { checks: [...checks, "ends with pg_dump's completion trailer"] };
  }
  const facts = await inspectArchive(file);
  const pgRestore = await locateTool('pg_restore', Math.max(serverMajor, Number(/^(\d+)/.exec(facts.header?.pgDumpVersion ?? '')?.[1] ?? 0)), env);
  const toc = await readToc(pgRestore, file, env);
  return { checks: [`table of contents reads (${toc.length} entries)`] };
}
