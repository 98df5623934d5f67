/**
 * The MySQL/MariaDB engine's restore and deep verify as the engine seam calls them. A restore is
 * always the swap (swap.ts): MySQL DDL commits itself, so a single transaction cannot hold one.
 * The seam's PostgreSQL-shaped arguments (psql/pg_restore tools, pg_restore flags) do not apply
 * and are not read.
 */
import path from 'node:path';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import type { Reporter } from '../../context.js';
import type { Format } from '../../format/naming.js';
import { formatStamp } from '../../format/naming.js';
import type { DumpStats, RestoreSource, ScratchOutcome, ScratchRequest } from '../engine.js';
import { restoreBySwap, repairLeftovers } from './swap.js';
import { restoreIntoScratch } from './scratch.js';
import { howMySqlScriptEnds, mysqlStatsFromProcess, readMySqlScript } from './script.js';

function scriptOf(source: { file: string; format: Format | string }, what: string) {
  if (source.format !== 'sql' && source.format !== 'sql.gz') {
    throw new KitError('UNSUPPORTED_MODE', `${what} needs a MySQL/MariaDB backup's .sql or .sql.gz; ${path.basename(source.file)} is ${source.format}. Nothing was changed.`);
  }
  return { file: source.file, gzip: source.format === 'sql.gz' };
}

/** The seam's restoreBySwap: only the target, the source, keepOld, the recorded rows, the stamp and the lock patience matter here. */
export async function mySqlRestoreBySwap(
  target: Target,
  source: RestoreSource,
  plan: { keepOld: boolean; expectedRows: Record<string, number>; stamp: string },
  scriptPlan: { lockTimeoutSeconds: number },
  _tools: unknown,
  _admin: unknown,
  env: NodeJS.ProcessEnv,
  reporter: Reporter,
  signal: AbortSignal,
  onSwap?: () => void,
): Promise<{ oldDatabase: string | undefined }> {
  const script = scriptOf(source, 'Restoring');
  return restoreBySwap(target, script, { keepOld: plan.keepOld, expectedRows: plan.expectedRows, stamp: plan.stamp.toLowerCase(), lockTimeoutSeconds: scriptPlan.lockTimeoutSeconds }, reporter, signal, env, onSwap);
}

export async function mySqlRepairLeftovers(target: Target, notice: (message: string) => void): Promise<void> {
  await repairLeftovers(target, notice);
}

/** Deep verify: the artifact into a scratch database, then mariadb-dump's re-dump read for the .info's statistics. */
export async function mySqlRestoreIntoScratch(request: ScratchRequest): Promise<ScratchOutcome> {
  const source = scriptOf({ file: request.file, format: request.artifact.format }, '--deep');
  const outcome = await restoreIntoScratch(
    { server: request.server, database: request.info.database.name, source, stamp: formatStamp(request.now).toLowerCase(), reporter: request.reporter, signal: request.signal },
    async (dump) => (await mysqlStatsFromProcess(dump, request.signal)).stats,
  );
  if (!outcome.restored) return outcome;
  // MySqlDumpStats has DumpStats's shape; the re-dump of a complete copy must itself be complete.
  if (!outcome.stats.complete) return { restored: false, problem: 'mariadb-dump of the scratch copy did not complete' };
  return { restored: true, stats: outcome.stats as unknown as DumpStats };
}

/** Verify's middle tier: the script read to mariadb-dump's completion trailer (and gunzipped to its end). */
export async function mySqlReadBack(name: string, format: Format, file: string): Promise<{ checks: string[]; problem?: string }> {
  const script = scriptOf({ file, format }, 'Reading a backup back');
  const read = await readMySqlScript(script.file, script.gzip, { hash: false });
  const checks = script.gzip ? ['decompresses completely'] : [];
  if (!read.stats.complete) return { checks, problem: `${name} does not end with mariadb-dump's completion trailer: ${howMySqlScriptEnds(read.stats)}` };
  return { checks: [...checks, "ends with mariadb-dump's completion trailer"] };
}
