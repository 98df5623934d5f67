/**
 * A restore: proven before it starts (integrity, versions, roles, extensions, tables), confirmed,
 * undoable (a pre-restore backup of the target), all-or-nothing while it runs, and checked
 * against the backup's row counts before it is allowed to commit.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KitError } from '../errors.js';
import { checkConsent } from '../config/confirmation.js';
import { restoreCommandLine } from '../text/restore-command.js';
import { childEnv, describeTarget, type Target } from '../config/target.js';
import type { Client, Engine, ExtensionUse, ScriptPlan } from '../engines/engine.js';
import type { StoreContext } from '../store/environment.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';
import { engineForTarget, engineOf } from '../engines/registry.js';
import { formatBytes } from '../text/units.js';
import { formatStamp, type Format } from '../format/naming.js';
import type { StoredBackup } from '../store/store.js';
import { decryptSource, type DecryptionRequest } from './encrypted.js';
import { applyRoles, describeRolesPlan, loadRolesPlan, type RolesPlan } from './roles.js';
import { checkIntegrity, resolveSource, type IntegrityReport, type ResolvedSource, type RestoreSource } from './source.js';
import { RestoreSession } from './session.js';
import { describeMode, formatsFor, planRestore, refuseSwapOnly, type RestoreMode, type RestorePlan } from './plan.js';

export type { RestoreMode } from './plan.js';
export { formatsFor } from './plan.js';

export interface RestoreOptions {
  input: string | undefined;
  latest: boolean;
  type: string | undefined;
  from: string | undefined;
  force: boolean;
  confirm: string | undefined;
  safetyBackup: boolean;
  mode: RestoreMode;
  tables: string[];
  jobs: number | undefined;
  keepOld: boolean;
  withOwner: boolean;
  withPrivileges: boolean;
  /** Skip ownership even within one environment. */
  noOwner: boolean;
  waitSeconds: number;
  showLines: boolean;
  /** How long to wait for a table lock another session holds (default: the engine's defaultLockTimeoutSeconds). */
  lockTimeoutSeconds?: number;
  /** Create the roles the backup needs that the target lacks, from its globals.sql. */
  withRoles?: boolean;
  /** With withRoles: also set existing roles to what the backup recorded. */
  updateRoles?: boolean;
  /** The age identity file for an encrypted backup (--identity, else AGE_IDENTITY_FILE). */
  identity?: string | undefined;
  /** --latest may choose a safety backup (pre-restore, pre-import, pre-drop). */
  includeSafety?: boolean;
  /** false: leave planner statistics to autovacuum instead of running ANALYZE at the end (--no-analyze). */
  analyze?: boolean;
}

export interface RestoreSummary {
  backup: { id: string; file: string; format: Format | 'csv export'; database: string | undefined; takenAt: string | undefined; bytes: number | undefined; checksum: string; environment: string };
  target: { host: string; port: number; database: string; environment: string; protected: boolean };
  mode: string;
  safetyBackup: boolean;
  /** --with-roles: what happens to roles, in words. */
  roles?: string;
}

export interface RestoreUi {
  /** A terminal is attached: prompts are possible. */
  interactive: boolean;
  pick(entries: StoredBackup[]): Promise<StoredBackup | undefined>;
  /** Ask; on a protected target the user must type the database name. */
  confirm(summary: RestoreSummary): Promise<boolean>;
  /** Shown before asking, and before a --force restore, on stderr. */
  show(summary: RestoreSummary): void;
}

export interface RestoreResult {
  backup: RestoreSummary['backup'];
  target: RestoreSummary['target'];
  mode: string;
  durationMs: number;
  safetyBackup: { id: string; file: string } | undefined;
  undo: string | undefined;
  verifiedTables: number;
  verifiedRows: number;
  /** When the row counts were checked: before the COMMIT, or (non-transactional DDL) before the swap. */
  verifiedBefore: 'commit' | 'the swap';
  oldDatabase: string | undefined;
  /** The backup was taken of another database than the target (its name), else undefined. */
  otherDatabase: string | undefined;
  /** The kit's own peak memory (its children excluded). */
  peakRssBytes: number;
}

async function tablesMissing(client: Client, tables: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const table of tables) {
    const { rows } = await client.query<{ r: string | null }>('SELECT to_regclass($1)::text AS r', [table]);
    if (!rows[0]?.r) missing.push(table);
  }
  return missing;
}

/** Tables whose data an archive holds, as quotable qualified names. */
async function archiveTables(client: Client, report: IntegrityReport): Promise<string[]> {
  if (report.stats) return Object.keys(report.stats.tables);
  const names: string[] = [];
  for (const entry of report.toc.filter((e) => e.desc === 'TABLE DATA')) {
    names.push((await client.query<{ q: string }>('SELECT format(\'%I.%I\', $1::text, $2::text) AS q', [entry.namespace, entry.tag])).rows[0]!.q);
  }
  return names;
}

/** Roles and extensions the restore needs must exist on the target before anything changes. */
async function precheck(engine: Engine, client: Client, target: Target, report: IntegrityReport, options: RestoreOptions, crossEnvironment: boolean, creating: string[], serverMajor: number): Promise<void> {
  const keepOwners = !options.noOwner && (options.withOwner || !crossEnvironment);
  if (keepOwners && report.toc.length) {
    // pg_restore --list separates the tag and the owner with a space, and either may hold spaces:
    // an entry is owned by a known role when its line ends with that role's name.
    const { rows } = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles');
    const known = [...rows.map((r) => r.rolname), ...creating];
    const ownedByKnown = (tail: string) => known.some((r) => tail === r || tail.endsWith(` ${r}`));
    const missing = [...new Set(report.toc.filter((e) => e.owner && e.owner !== '-' && !ownedByKnown(`${e.tag} ${e.owner}`)).map((e) => e.owner))];
    if (missing.length) {
      const how = options.withRoles ? 'The backup\'s globals.sql does not hold them either: create them by hand' : 'Pass --with-roles to create them from the roles saved with the backup, create them first';
      throw new KitError('MISSING_ROLES', `The backup's objects belong to roles that do not exist on ${describeTarget(target)}: ${missing.join(', ')}. ${how}, or pass --no-owner to give everything to ${target.user}. Nothing was changed.`);
    }
  }
  if (options.mode !== 'data-only' && options.tables.length === 0) {
    await engine.checkExtensionsAvailable(client, extensionsNeeded(report), `${target.host}:${target.port}`, serverMajor);
  }
}

/**
 * The extensions a restore creates: as the .info recorded them at backup time (with versions),
 * else, for a backup of an older kit or a file without its .info, the archive's TOC (names only).
 */
function extensionsNeeded(report: IntegrityReport): ExtensionUse[] {
  const recorded = report.source.info?.extensions;
  if (recorded) return recorded;
  return report.toc.filter((e) => e.desc === 'EXTENSION').map((e) => ({ name: e.tag, version: undefined }));
}

interface Prepared {
  source: IntegrityReport['source'];
  report: IntegrityReport;
  plan: RestorePlan;
  summary: RestoreSummary;
  serverMajor: number;
  /** --with-roles: the roles to create before the restore. */
  roles: RolesPlan | undefined;
}

/** Where the backup came from before any decryption, and how to decrypt: for globals.sql. */
interface Origin {
  backup: { id: string; info: ResolvedSource['info']; file: string; entry: ResolvedSource['entry'] };
  /** The store the backup was listed in (globals.sql is fetched from the same listing). */
  store: ResolvedSource['store'];
  decryption: DecryptionRequest;
}

/** A restore that makes the database it restores into (beside the target, then swapped in). */
function createsDatabase(options: RestoreOptions): boolean {
  return options.mode === 'create' || options.jobs !== undefined;
}

/** Everything proven and decided before the user is asked: the source, its integrity, the plan. */
async function prepare(target: Target, options: RestoreOptions, ctx: StoreContext, resolved: ResolvedSource, origin: Origin, session: RestoreSession): Promise<Prepared> {
  const sourceEnv = options.from ?? target.env;
  ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
  // --create may make a database that does not exist yet: then the session holds postgres
  const { client } = await session.connect(options.waitSeconds, createsDatabase(options), (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`));
  const { engine } = session;
  const targetExists = (await engine.currentDatabase(client)) === target.database;
  const facts = await engine.serverFacts(client);
  ctx.reporter.progress({ phase: 'checking the backup', bytes: 0 });
  const report = await checkIntegrity(engine, resolved, facts.major, ctx.env, childEnv(target, ctx.env));
  const source = report.source;
  checkFormatFits(source, options, engine);
  const crossEnvironment = sourceEnv !== target.env;
  const roles = options.withRoles ? await loadRolesPlan(origin.backup, origin.store ?? ctx.environment(sourceEnv).store, client, options.updateRoles === true, origin.decryption) : undefined;
  await precheck(engine, client, target, report, options, crossEnvironment, roles?.create ?? [], facts.major);
  const plan = planRestore({
    ...options,
    crossEnvironment,
    archiveTables: await archiveTables(client, report),
    recordedRows: Object.fromEntries(Object.entries(report.stats?.tables ?? {}).map(([t, s]) => [t, s.rows])),
    toc: report.toc,
    lockTimeoutSeconds: options.lockTimeoutSeconds ?? engine.defaultLockTimeoutSeconds,
  }, engine);
  const missing = await tablesMissing(client, plan.mustExist);
  if (missing.length) {
    throw new KitError('MISSING_TABLES', options.tables.length
      ? `Table ${missing.join(', ')} does not exist on the target; --table replaces data in existing tables. Restore the schema first (a full restore or --schema-only). Nothing was changed.`
      : `--data-only needs the backup's tables to exist on the target; missing: ${missing.join(', ')}. Run the migrations or a --schema-only restore first. Nothing was changed.`);
  }
  const summary: RestoreSummary = {
    backup: {
      id: source.id,
      file: source.file,
      format: source.format,
      database: source.info?.database.name ?? source.header?.databaseName,
      takenAt: source.info?.startedAt,
      bytes: source.artifact?.bytes,
      checksum: report.checksum === 'verified' ? 'sha256 verified' : 'no .info: archive read end to end instead',
      environment: sourceEnv,
    },
    target: { host: target.host, port: target.port, database: target.database, environment: target.env, protected: target.protected },
    mode: describeMode({ ...options, tables: options.tables.length ? plan.mustExist : [] }) + (plan.dropOwnership || plan.dropPrivileges ? `; owners and privileges skipped (from ${sourceEnv} into ${target.env})` : ''),
    safetyBackup: options.safetyBackup && targetExists,
    ...(roles ? { roles: describeRolesPlan(roles) } : {}),
  };
  return { source, report, plan, summary, serverMajor: facts.major, roles };
}

/** pg_restore's selective modes and --jobs need an archive of the right kind. */
function checkFormatFits(source: RestoreSource, options: RestoreOptions, engine: Engine): void {
  if (!engine.transactionalDdl) return; // planRestore refuses what such an engine cannot do, naming why
  const selective = options.tables.length > 0 || options.mode !== 'replace';
  if (selective && options.mode !== 'create' && source.format !== 'dump' && source.format !== 'tar') {
    throw new KitError('UNSUPPORTED_MODE', `--${options.tables.length ? 'table' : options.mode} needs a .dump or .tar archive; ${path.basename(source.file)} is a ${source.format} script. Restore the backup's .dump instead.`);
  }
  if (options.jobs !== undefined && source.format !== 'dump') {
    throw new KitError('UNSUPPORTED_MODE', `--jobs needs a .dump (custom format) archive; ${path.basename(source.file)} is ${source.format}.`);
  }
}

/** --with-roles, after the confirmation and the safety backup: the missing roles, in one transaction. */
async function createRoles(session: RestoreSession, plan: RolesPlan, ctx: StoreContext): Promise<void> {
  ctx.reporter.progress({ phase: 'creating roles', bytes: 0 });
  // Roles belong to the server: the connection the pre-checks used serves, whichever database it is in.
  const { client } = await session.connect(0, true);
  await applyRoles(client, plan);
}

/** Change the target: in one transaction, or by a fresh database swapped in. */
async function apply(target: Target, prepared: Prepared, options: RestoreOptions, ctx: StoreContext, stamp: string, session: RestoreSession): Promise<string | undefined> {
  const { source, report, plan } = prepared;
  const { engine } = session;
  const list = plan.restoreList ? await writeRestoreList(plan.restoreList) : undefined;
  try {
    const pgRestoreArgs = [...plan.pgRestoreArgs, ...(list ? [`--use-list=${list.file}`] : [])];
    const scriptPlan: ScriptPlan = { ...plan, pgRestoreArgs, totalItems: plan.restoreList?.length ?? report.items, showLines: options.showLines, lockTimeoutSeconds: options.lockTimeoutSeconds ?? engine.defaultLockTimeoutSeconds };
    const tools = { psql: await engine.locateTool(engine.scriptClient, prepared.serverMajor, ctx.env), pgRestore: source.format === 'dump' || source.format === 'tar' ? report.pgRestore : undefined };
    if (!plan.creating) {
      const connection = (await session.current())?.client;
      await engine.restoreInTransaction(target, source, scriptPlan, tools, ctx.env, ctx.reporter, ctx.signal, { onCommit: () => ctx.pointOfNoReturn?.('the restore\'s COMMIT has been sent'), connection });
      return undefined;
    }
    const swap = { jobs: options.jobs ?? 1, pgRestoreArgs, keepOld: options.keepOld, expectedRows: plan.expectedRows, stamp };
    const onSwap = () => ctx.pointOfNoReturn?.('the restored database is being swapped in');
    // The swap ends every session in the target, and renames it: the session leaves it first.
    await session.leaveDatabase();
    return (await engine.restoreBySwap(target, source, swap, scriptPlan, tools, await session.admin(), ctx.env, ctx.reporter, ctx.signal, onSwap)).oldDatabase;
  } finally {
    await list?.remove();
  }
}

/** A pg_restore --use-list file naming only these entries, in a private directory removed afterwards. */
async function writeRestoreList(ids: number[]): Promise<{ file: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'pg-backup-kit-list-'));
  const file = path.join(dir, 'restore.list');
  await writeFile(file, ids.map((id) => `${id};\n`).join(''), { mode: 0o600 });
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}

export async function restore(target: Target, options: RestoreOptions, ctx: StoreContext, ui: RestoreUi): Promise<RestoreResult> {
  const started = ctx.now();
  const session = new RestoreSession(target, ctx.signal, engineForTarget(target));
  let resolved: ResolvedSource | undefined;
  try {
    refuseSwapOnly(options, session.engine);
    await repairFirst(session, options, ctx);
    resolved = await resolveSource({
      input: options.input,
      latest: options.latest,
      type: options.type,
      // Within one environment --latest means the newest backup of the target's own database.
      database: options.from === undefined || options.from === target.env ? target.database : undefined,
      includeSafety: options.includeSafety === true,
      store: ctx.environment(options.from ?? target.env).store,
      now: ctx.now(),
      warn: (message: string) => ctx.reporter.notice(message),
      formats: formatsFor(options),
      ...(ui.interactive ? { pick: (entries: StoredBackup[]) => ui.pick(entries) } : {}),
    });
    refuseOtherEngine(resolved, session.engine, target);
    // An encrypted artifact: checked as stored, then decrypted whole into a private file first.
    const origin: Origin = {
      backup: { id: resolved.id, info: resolved.info, file: resolved.file, entry: resolved.entry },
      store: resolved.store,
      decryption: { identity: options.identity ?? (ctx.env.AGE_IDENTITY_FILE || undefined), env: ctx.env, signal: ctx.signal },
    };
    if (resolved.artifact?.plain || resolved.file.endsWith('.age')) ctx.reporter.progress({ phase: 'decrypting the backup', bytes: 0 });
    resolved = await decryptSource(resolved, origin.decryption);
    const prepared = await prepare(target, options, ctx, resolved, origin, session);
    const { summary, plan, source } = prepared;
    await confirmRestore(summary, options, target, ui);
    ctx.signal.throwIfAborted();

    let safety: RestoreResult['safetyBackup'];
    if (summary.safetyBackup) {
      ctx.reporter.progress({ phase: 'safety backup of the target', bytes: 0 });
      const made = await backup(target, wholeDatabaseDump('pre-restore', `Before restoring ${source.id}`, { stats: 'auto' }), ctx);
      safety = { id: made.id, file: made.files[0]!.path };
    }
    if (prepared.roles) await createRoles(session, prepared.roles, ctx);
    const oldDatabase = await apply(target, prepared, options, ctx, formatStamp(started).toLowerCase(), session);
    if (options.analyze !== false) await analyze(session, plan.creating, ctx);
    return {
      backup: summary.backup,
      target: summary.target,
      mode: summary.mode,
      durationMs: ctx.now().getTime() - started.getTime(),
      safetyBackup: safety,
      undo: safety ? undoCommand(safety.file, target, ctx.root) : undefined,
      verifiedTables: Object.keys(plan.expectedRows).length,
      verifiedRows: Object.values(plan.expectedRows).reduce((a, b) => a + b, 0),
      verifiedBefore: session.engine.transactionalDdl ? 'commit' : 'the swap',
      oldDatabase,
      otherDatabase: otherDatabase(summary),
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    const after = session.engine.transactionalDdl
      ? 'The restore\'s transaction was not committed, so the target is unchanged'
      : 'The restored tables were not swapped in, so the target is as it was (a swap cut off after its RENAME is undone by the next restore)';
    throw (await session.engine.serverGone(error, target, 'restore', after)) ?? error;
  } finally {
    await session.close();
    await resolved?.release().catch(() => undefined);
  }
}

/** A backup of one engine never reaches a database of another: refused before anything changed. */
function refuseOtherEngine(resolved: ResolvedSource, engine: Engine, target: Target): void {
  if (!resolved.info) return;
  const made = engineOf(resolved.info);
  if (made.name === engine.name) return;
  throw new KitError('UNSUPPORTED_MODE', `Backup ${resolved.id} is a ${made.label} backup, and ${describeTarget(target)} is a ${engine.label} database: a backup restores only into a database of the engine that made it. Nothing was changed.`);
}

/**
 * Before anything else, what killed runs left on the server is cleaned up, through the
 * connection the restore goes on to use (the server's own database when the target's cannot
 * be reached now: the restore's own connection later says what is wrong).
 */
async function repairFirst(session: RestoreSession, options: RestoreOptions, ctx: StoreContext): Promise<void> {
  const open = await session.connect(0, createsDatabase(options)).catch(() => undefined);
  const client = open?.client ?? (await session.admin().catch(() => undefined));
  if (client) await session.engine.repairLeftovers(session.target, (message: string) => ctx.reporter.notice(message), client);
}

/** Planner statistics for the restored data: in the target the session holds, or in the database swapped in. */
async function analyze(session: RestoreSession, swapped: boolean, ctx: StoreContext): Promise<void> {
  ctx.reporter.progress({ phase: 'analyzing', bytes: 0 });
  const client = swapped ? await session.engine.connectWithWait(session.target, 0) : (await session.connect(0, false)).client;
  await session.engine.refreshPlannerStatistics(client).catch((error: Error) => ctx.reporter.notice(`ANALYZE failed (${error.message}); run it yourself for good query plans`));
  if (swapped) await client.end().catch(() => undefined);
}

/** Shared with db:import: the same confirmation, --force/--confirm rules and protection. */
export async function confirmRestore(summary: RestoreSummary, options: Pick<RestoreOptions, 'force' | 'confirm' | 'safetyBackup'>, target: Target, ui: RestoreUi): Promise<void> {
  if (target.protected && !options.safetyBackup) {
    throw new KitError('PROTECTED_TARGET', `--no-safety-backup is refused on the protected environment "${target.env}": a restore there must stay undoable.`);
  }
  const consent = checkConsent(target, options, ui.interactive, {
    withoutPrompt: 'restore into it',
    needsConfirmation: `Restoring replaces data in ${target.database} on ${target.host}:${target.port}`,
  });
  ui.show(summary);
  if (consent === 'ask' && !(await ui.confirm(summary))) throw new KitError('NOT_CONFIRMED', 'Restore cancelled; nothing was changed.');
}

function undoCommand(file: string, target: Target, root: string): string {
  return restoreCommandLine({ source: { file }, environment: target.env, force: true, ...(target.protected ? { protectedDatabase: target.database } : {}), root, reach: target.reach });
}

/** The backup's database when it is not the target's: a restore across databases is said out loud. */
export function otherDatabase(summary: RestoreSummary): string | undefined {
  const from = summary.backup.database;
  return from !== undefined && from !== summary.target.database ? from : undefined;
}

export function describeSummary(summary: RestoreSummary): string[] {
  const b = summary.backup;
  const t = summary.target;
  const other = otherDatabase(summary);
  return [
    ...(other ? [`Note:    this backup is of database ${other}, not of ${t.database}`] : []),
    `Backup:  ${b.id} (${b.format}${b.bytes !== undefined ? `, ${formatBytes(b.bytes)}` : ''})${b.environment !== t.environment ? ` from ${b.environment}` : ''}`,
    `         database ${b.database ?? 'unknown'}${b.takenAt ? `, taken ${b.takenAt}` : ''}; ${b.checksum}`,
    `Target:  ${t.database} on ${t.host}:${t.port} (environment ${t.environment}${t.protected ? ', PROTECTED' : ''})`,
    `Mode:    ${summary.mode}`,
    `Safety:  ${summary.safetyBackup ? 'a pre-restore backup of the target is taken first' : 'no safety backup'}`,
    ...(summary.roles ? [`Roles:   ${summary.roles}`] : []),
  ];
}
