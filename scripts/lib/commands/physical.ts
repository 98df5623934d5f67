/** `db:backup:physical` and `db:restore:physical`: flags, checks and rendering. */
import path from 'node:path';
import { existsSync, statSync } from 'node:fs';
import { KitError } from '../errors.js';
import { failWithReport, readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { verifyPhysical, type PhysicalVerifyResult } from '../physical/verify.js';
import { applyPhysicalRetention, type PhysicalRetentionResult } from '../physical/retention.js';
import { retentionCommand, type RetentionArgs } from './retention.js';
import { loadConfig } from '../config/file.js';
import { DEFAULT_POLICY, type RetentionPolicy } from '../retention/plan.js';
import { formatDuration } from '../cli/progress.js';
import { formatBytes } from '../text/units.js';
import { isValidType } from '../format/naming.js';
import { physicalBackup, type PhysicalBackupOptions, type PhysicalBackupResult } from '../physical/backup.js';
import { unloggedNotice } from '../physical/unlogged.js';
import { physicalRestore, type PhysicalRestoreOptions, type PhysicalRestoreResult } from '../physical/restore.js';
import type { Compression } from '../physical/info.js';
import type { RecoveryTarget } from '../physical/recovery.js';
import { parseLsn } from '../physical/wal-names.js';
import { parseTablespaceMappings } from '../physical/tablespaces.js';

export interface PhysicalBackupArgs extends CommonArgs, PhysicalBackupOptions {}

const COMPRESSIONS = ['auto', 'lz4', 'zstd', 'gzip', 'none'] as const;

export const physicalBackupCommand: Command<PhysicalBackupArgs, PhysicalBackupResult> = {
  name: 'backup-physical',
  synopsis: 'pnpm db:backup:physical -- [description] [options]',
  description: `
A base backup of the whole cluster with pg_basebackup over a replication connection: tar format,
the WAL it needs streamed into it, compressed, with PostgreSQL's backup_manifest. Written into
backups/<env>/physical/ as partial files, then hashed and renamed; the .info is written last.
With a remote (backup-kit.json or --remote), the backup is then uploaded to
<prefix>/<env>/physical/, each file proven against its sha256, the .info last.
With the continuous WAL archive (docs/06-physical-and-pitr.md), it restores to any moment after it.`,
  notes: 'Exit status: 0 on success; 22 when the server is not ready (the message says what to change);\n20 when the upload failed (the local backup is complete: pnpm db:push uploads it later).',
  shared: ['env', 'env-file', 'url', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    type: { type: 'string', arg: '<type>', help: 'backup type in the file name (default: physical)' },
    description: { type: 'string', arg: '<text>', help: 'free text kept in the .info' },
    compress: { type: 'string', arg: '<method>', help: 'auto (lz4 with pg_basebackup 15+, else gzip), lz4, zstd, gzip, none' },
    checkpoint: { type: 'string', arg: '<fast|spread>', help: 'start at once (fast, default) or spread the checkpoint\'s I/O' },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers (default: 0)' },
    'skip-space-check': { type: 'boolean', help: 'do not compare free space with the cluster\'s size' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length > 1) problems.push(`Too many arguments: expected at most [description], got ${positionals.length}.`);
    const type = stringValue(values, 'type') ?? 'physical';
    if (!isValidType(type)) problems.push(`Backup type "${type}" is not allowed: use lower-case letters, digits and "-".`);
    const compression = stringValue(values, 'compress') ?? 'auto';
    if (!(COMPRESSIONS as readonly string[]).includes(compression)) problems.push(`--compress takes ${COMPRESSIONS.join(', ')}, got "${compression}".`);
    const checkpoint = stringValue(values, 'checkpoint') ?? 'fast';
    if (checkpoint !== 'fast' && checkpoint !== 'spread') problems.push(`--checkpoint takes fast or spread, got "${checkpoint}".`);
    const waitSeconds = readWait(values, problems);
    if (problems.length) throw usageError(problems, 'pnpm db:backup:physical --');
    return {
      ...common,
      type,
      description: stringValue(values, 'description') ?? positionals[0] ?? 'Physical base backup',
      compression: compression as Compression | 'auto',
      checkpoint: checkpoint as 'fast' | 'spread',
      waitSeconds,
      skipSpaceCheck: values['skip-space-check'] === true,
    };
  },
  run: (args, ctx) => physicalBackup(ctx.target(args), args, ctx),
  render(r) {
    const rel = (p: string) => path.relative(process.cwd(), p) || p;
    return [
      `Physical backup ${r.id} (${r.environment}) complete in ${formatDuration(r.durationMs)}: ${formatBytes(r.totalBytes)}, ${r.compression}, timeline ${r.wal.timeline}, WAL ${r.wal.startLsn} to ${r.wal.stopLsn}.`,
      ...r.files.map((f) => `  ${rel(f.path)}  ${formatBytes(f.bytes).padStart(9)}  sha256 ${f.sha256.slice(0, 12)}…`),
      `  ${rel(r.info)}`,
      ...(r.remote ? [`  uploaded: ${r.remote}`] : []),
      `Restore with: pnpm db:restore:physical -- ${r.id} --target-dir <new directory>${r.environment === 'default' ? '' : ` --env ${r.environment}`}`,
      ...unloggedNotice(r.unlogged),
    ];
  },
  githubOutput: (r) => ({ backup_id: r.id, backup_dir: r.dir, backup_info: r.info }),
  logFields: (r) => ({ id: r.id, bytes: r.totalBytes, kind: 'physical', wal: `${r.wal.startSegment}..${r.wal.stopSegment}` }),
};

export interface PhysicalRestoreArgs extends CommonArgs, Omit<PhysicalRestoreOptions, 'launcher'> {}

/**
 * The kit's launcher as the server's user will run it from restore_command: BACKUP_KIT_LAUNCHER
 * (a copy that user can read, e.g. one made by scripts/kit.mjs --standalone), or this kit's own.
 */
export function kitLauncher(env: NodeJS.ProcessEnv): string {
  return env.BACKUP_KIT_LAUNCHER || path.join(path.dirname(path.resolve(process.argv[1] ?? 'scripts/x')), 'kit.mjs');
}

function readTarget(values: Record<string, unknown>, problems: string[]): RecoveryTarget {
  const time = typeof values.time === 'string' ? values.time : undefined;
  const lsn = typeof values.lsn === 'string' ? values.lsn : undefined;
  const chosen = [time !== undefined, lsn !== undefined, values.latest === true, values.immediate === true].filter(Boolean).length;
  if (chosen > 1) problems.push('Choose one recovery target: --time, --lsn, --latest or --immediate.');
  if (time !== undefined) {
    if (Number.isNaN(Date.parse(time))) problems.push(`--time takes a timestamp with its time zone, such as "2026-11-30 14:05:00+00" or 2026-11-30T14:05:00Z, got "${time}".`);
    else if (!/(Z|[+-]\d\d(:?\d\d)?)$/i.test(time.trim())) problems.push(`--time "${time}" has no time zone; add one (Z or +00) so the moment is exact.`);
    return { kind: 'time', value: time };
  }
  if (lsn !== undefined) {
    try {
      parseLsn(lsn);
    } catch {
      problems.push(`--lsn takes a WAL location such as 0/3000148, got "${lsn}".`);
    }
    return { kind: 'lsn', value: lsn };
  }
  if (values.immediate === true) return { kind: 'immediate' };
  return { kind: 'latest' };
}

export const physicalRestoreCommand: Command<PhysicalRestoreArgs, PhysicalRestoreResult> = {
  name: 'restore-physical',
  synopsis: 'pnpm db:restore:physical -- [backup id | latest] (--target-dir <dir> | --replace <dir>) [options]',
  description: `
Unpacks a physical backup into a data directory, sets up recovery from the WAL archive, and proves
it: a private server starts on it, recovers to the target and promotes, --post-init SQL runs, and
the server is stopped again. Never restores under a running server. Without an id: the newest
backup (with --time: the newest that finished before that moment). Recovery targets: one of
--latest (default), --time, --lsn, --immediate, or --standby.`,
  notes: 'Exit status: 0 when the restored server proved it starts at the target; 22 otherwise (nothing is left half-restored).',
  // Only --standby connects (to the primary); every other restore reads files.
  shared: ['env', 'env-file', 'url', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    'from-remote': { type: 'boolean', help: 'take the backup and the WAL from object storage even when a local copy\nexists (a backup only the remote has is always taken from there)' },
    'target-dir': { type: 'string', arg: '<dir>', help: 'a new (or empty) directory: the default way' },
    replace: { type: 'string', arg: '<dir>', help: 'a stopped cluster\'s data directory; the old one is kept aside as\n<dir>.kit-old-<time> and put back if the new one does not start' },
    owner: { type: 'string', arg: '<user>', help: 'the operating-system user the server runs as (as root: postgres)' },
    latest: { type: 'boolean', help: 'recover everything in the archive (the default)' },
    time: { type: 'string', arg: '<timestamp>', help: 'stop at this moment, with its time zone ("2026-11-30 14:05:00+00")' },
    lsn: { type: 'string', arg: '<lsn>', help: 'stop at this WAL location' },
    immediate: { type: 'boolean', help: 'stop as soon as the backup is consistent' },
    standby: { type: 'boolean', help: 'a replica: standby.signal, primary_conninfo from the connection\n(its password in a passfile in the directory, mode 0600)' },
    config: { type: 'string', arg: '<file>', help: 'lines appended to postgresql.auto.conf (port, memory, …)' },
    'post-init': { type: 'string', arg: '<dir>', help: 'run every .sql file there, in name order, before hand-over' },
    'tablespace-mapping': { type: 'string', multiple: true, arg: '<old=new>', help: 'where a tablespace goes: its old directory (or oid) = a new, empty one;\none per tablespace (a backup with tablespaces needs them)' },
    archive: { type: 'boolean', help: 'keep archive_mode (a new directory turns it off, so a test restore\nnever writes into the production archive; --replace keeps it)' },
    timeout: { type: 'string', arg: '<seconds>', help: 'how long recovery may take (default 600)' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length > 1) problems.push(`Expected at most one backup id, got ${positionals.join(' ')}.`);
    const targetDir = stringValue(values, 'target-dir');
    const replace = stringValue(values, 'replace');
    if ((targetDir === undefined) === (replace === undefined)) problems.push('Say where to restore: --target-dir <new directory> or --replace <stopped data directory> (one of them).');
    const target = readTarget(values, problems);
    const standby = values.standby === true;
    if (standby && (values.time !== undefined || values.lsn !== undefined || values.immediate === true)) problems.push('--standby follows the primary; it takes no recovery target.');
    const configFile = stringValue(values, 'config');
    if (configFile !== undefined && !existsSync(configFile)) problems.push(`--config ${configFile} does not exist.`);
    const postInitDir = stringValue(values, 'post-init');
    if (postInitDir !== undefined && !(existsSync(postInitDir) && statSync(postInitDir).isDirectory())) problems.push(`--post-init ${postInitDir} is not a directory.`);
    if (postInitDir !== undefined && standby) problems.push('--post-init cannot run on a standby (it is read-only).');
    const tablespaceMappings = parseTablespaceMappings(Array.isArray(values['tablespace-mapping']) ? (values['tablespace-mapping'] as string[]) : [], problems);
    const timeoutText = stringValue(values, 'timeout') ?? '600';
    const timeoutSeconds = Number(timeoutText);
    if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) problems.push(`--timeout takes a number of seconds, got "${timeoutText}".`);
    if (problems.length) throw usageError(problems, 'pnpm db:restore:physical --');
    return {
      ...common,
      id: positionals[0] ?? 'latest',
      targetDir: targetDir && path.resolve(targetDir),
      replace: replace && path.resolve(replace),
      target,
      standby,
      configFile: configFile && path.resolve(configFile),
      postInitDir: postInitDir && path.resolve(postInitDir),
      owner: stringValue(values, 'owner'),
      keepArchiving: values.archive === true,
      timeoutSeconds,
      tablespaceMappings,
    };
  },
  async run(args, ctx) {
    // Only a standby needs to reach the primary; any other restore reads nothing but files.
    const target = args.standby ? ctx.target(args) : undefined;
    return physicalRestore(target, target?.env ?? args.env ?? 'default', { ...args, launcher: kitLauncher(ctx.env) }, ctx);
  },
  render(r) {
    const what = r.standby ? 'a standby, consistent and following the primary' : r.target.kind === 'latest' ? 'the end of the archive' : r.target.kind === 'immediate' ? 'the end of the backup' : `${r.target.kind} ${r.target.value}`;
    return [
      `Restored ${r.id} from ${r.from} into ${r.dataDir} in ${formatDuration(r.durationMs)}: recovered to ${what}${r.proof.promoted ? `, promoted on timeline ${r.proof.timeline}` : ''}.`,
      `  proven: ${r.proof.databases.length} databases open, ${r.proof.tables} tables${r.proof.postInit.length ? `, post-init ran ${r.proof.postInit.join(', ')}` : ''}`,
      ...(r.proof.unlogged.length ? [`  empty as PostgreSQL makes them after recovery (UNLOGGED, never in a base backup): ${r.proof.unlogged.join(', ')}`] : []),
      ...(r.previousDir ? [`  the previous directory is kept at ${r.previousDir}; delete it once you are satisfied`] : []),
      `  the server is stopped; start it with: ${r.start}`,
    ];
  },
  logFields: (r) => ({ id: r.id, dataDir: r.dataDir, mode: r.mode, target: r.target, standby: r.standby }),
};

export interface PhysicalVerifyArgs extends CommonArgs {
  ids: string[] | 'all';
  deep: boolean;
}

export const physicalVerifyCommand: Command<PhysicalVerifyArgs, PhysicalVerifyResult> = {
  name: 'verify-physical',
  synopsis: 'pnpm db:verify:physical -- [<id> … | --latest | --all] [--deep]',
  description: `
Checks physical backups: every file against the sha256 in its .info, pg_verifybackup against
PostgreSQL's backup_manifest (after unpacking into a scratch directory) including the WAL the
backup carries, and the WAL archive holding every segment from the backup on without a gap.
--deep also recovers the copy on a throw-away server and reads every table of every database.
Each result is kept beside the backup as <id>.verify.json.`,
  notes: 'Exit status: 0 when every backup passed; 12 (damaged), 23 (gap in the archive) or 22 (did not recover) otherwise.',
  shared: ['env', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    'from-remote': { type: 'boolean', help: 'check the copy in object storage even when a local copy exists' },
    latest: { type: 'boolean', help: 'the newest physical backup (the default)' },
    all: { type: 'boolean', help: 'every physical backup' },
    deep: { type: 'boolean', help: 'recover on a throw-away server and read every table' },
  },
  parse(values, positionals, common) {
    if (values.all === true && (positionals.length || values.latest === true)) throw usageError(['--all takes no ids and no --latest.'], 'pnpm db:verify:physical --');
    return { ...common, ids: values.all === true ? 'all' : positionals.length ? positionals : ['latest'], deep: values.deep === true };
  },
  async run(args, ctx) {
    const result = await verifyPhysical(args.env ?? 'default', args.ids, args.deep, kitLauncher(ctx.env), ctx);
    const failed = result.results.find((r) => !r.ok);
    if (failed) failWithReport(result, new KitError(failed.failure ?? 'INTEGRITY_FAILED', `${failed.id}: ${failed.problem ?? 'verification failed'}`));
    return result;
  },
  render(r) {
    return r.results.flatMap((v) => [
      `${v.ok ? 'OK    ' : 'FAILED'} ${v.id} (${v.level})`,
      ...v.checks.map((c) => `  ✓ ${c}`),
      ...(v.problem ? [`  ✗ ${v.problem}`] : []),
    ]);
  },
  logFields: (r) => ({ verified: r.results.map((v) => ({ id: v.id, ok: v.ok, level: v.level })) }),
};

export interface PhysicalRetentionArgs extends RetentionArgs {}

/** The same policy flags and configuration as db:retention, applied to physical backups and WAL. */
export const physicalRetentionCommand: Command<PhysicalRetentionArgs, PhysicalRetentionResult> = {
  name: 'retention-physical',
  synopsis: 'pnpm db:retention:physical -- [--dry-run] [policy options]',
  description: `
Applies the retention policy of db:retention (the same flags, the same backup-kit.json
"retention") to physical backups, then removes the archived WAL older than the oldest base backup
kept. Only the oldest WAL goes, so what stays has no gap; with no base backup, no WAL is removed.`,
  shared: retentionCommand.shared,
  options: retentionCommand.options,
  parse: (values, positionals, common) => retentionCommand.parse(values, positionals, common),
  async run(args, ctx) {
    const config = loadConfig(ctx.root).retention ?? {};
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, ...config, ...args.policy, perType: args.policy.perType ?? config.perType ?? DEFAULT_POLICY.perType };
    return applyPhysicalRetention(args.env ?? 'default', policy, args.now ?? ctx.now(), args.dryRun, ctx);
  },
  render(r) {
    const mark = (keep: boolean) => (keep ? 'keep  ' : r.dryRun ? 'delete' : 'DELETED');
    return [
      ...r.decisions.map((d) => `${mark(d.keep)}  ${d.id}  ${d.reasons.join('; ')}`),
      ...r.removedLeftovers.map((f) => `${mark(false)}  ${f}  incomplete backup left by an interrupted run`),
      `WAL: ${r.wal.length} archived file(s) older than ${r.walKeptFrom ?? '(no base backup: none removed)'} ${r.dryRun ? 'would be' : 'were'} removed.`,
    ];
  },
  logFields: (r) => ({ dryRun: r.dryRun, deleted: r.decisions.filter((d) => !d.keep).map((d) => d.id), walRemoved: r.wal.length }),
};
