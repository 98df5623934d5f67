/**
 * A table export: one exported snapshot; every chosen table's rows as CSV (`COPY … TO STDOUT WITH
 * (FORMAT csv, HEADER)`), `--jobs` at a time; schema.sql from pg_dump with the same snapshot;
 * metadata.json last. A catalog entry like any backup (`backup_export_<time>`): written under a
 * partial name, renamed when complete (or zipped), its .info written last, so an interrupted
 * export never looks complete; what a killed run left is removed by the next.
 */
import { createHash } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import kitPackage from '../../../package.json' with { type: 'json' };
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, serverFacts, type Client, type ServerFacts } from '../engines/postgres/connect.js';
import { locateTool, type LocatedTool } from '../engines/postgres/tools.js';
import { ensurePrivateDir, PARTIAL_SUFFIX } from '../store/files.js';
import type { StoreContext } from '../store/environment.js';
import type { BackupWrite } from '../store/store.js';
import { backupRoot, type CommandContext } from '../context.js';
import { stemOf, typeOfStem } from '../format/naming.js';
import type { ArtifactInfo, BackupInfo, ExtensionInfo } from '../format/metadata.js';
import { dataFileName, exportFiles, EXPORT_SCHEMA, EXPORT_SESSION_SETTINGS, EXPORT_VERSION, type ExportMetadata, type ExportTable } from '../format/export-metadata.js';
import { buildInfo, infoDatabase } from '../backup/backup.js';
import { readExtensions } from '../engines/postgres/extensions.js';
import { engineForTarget } from '../engines/registry.js';
import { countLargeObjects, openSnapshot, readSequences, readTables, type SnapshotTable } from '../engines/postgres/snapshot.js';
import { selectTables } from './select.js';
import { copyIntoEntry, copySource, copyTableInRanges, copyToFile, dumpSchema, runPool } from '../engines/postgres/copy.js';
import { zipDirectory, ZipWriter } from './zip.js';
import { exportChainTable, postgresChainServer, prepareChain, readNextLowerBound, type ChainPlan } from './differential.js';
import { configFor } from '../config/file.js';
import { sessionSettingsSql } from '../engines/postgres/snapshot.js';
import { isRemoteLocation } from '../config/remote.js';
import { exportThroughEngine } from './engine-export.js';

export interface ExportOptions {
  tables: string[];
  schemas: string[];
  excludeTables: string[];
  jobs: number;
  zip: boolean;
  waitSeconds: number;
  /** Rows changed since the chain's previous export (a full export when there is none to follow). */
  differential: boolean;
  /** With differential: tables that cannot be differential are exported in full instead of refused. */
  skipUnsuitable: boolean;
  /** With differential: start a new chain with a full export. */
  newChain: boolean;
}

export interface ExportResult {
  id: string;
  environment: string;
  /** The export directory, or the .zip with --zip. */
  path: string;
  zip: boolean;
  tables: number;
  rows: number;
  bytes: number;
  durationMs: number;
  database: { name: string; host: string; port: number };
  peakRssBytes: number;
  /** --differential: where this export sits in its chain. */
  chain?: { base: string; parent: string | undefined; position: number; changedRows: number; deletedRows: number; reason: string | undefined };
}

export const LARGE_OBJECTS_FILE = 'large-objects.csv';
const LARGE_OBJECTS_QUERY = '(SELECT oid, lo_get(oid) AS data FROM pg_catalog.pg_largeobject_metadata ORDER BY oid)';

/** File names for the chosen tables; two names that only differ in characters a path cannot hold get a suffix. */
export function planFiles<T extends { schema: string; table: string }>(tables: T[]): Map<T, string> {
  const used = new Set<string>();
  const out = new Map<T, string>();
  for (const t of tables) {
    let file = dataFileName(t.schema, t.table);
    for (let n = 2; used.has(file.toLowerCase()); n++) file = dataFileName(t.schema, `${t.table}~${n}`);
    used.add(file.toLowerCase());
    out.set(t, file);
  }
  return out;
}

/** The size on disk of one page range of a big table's COPY (EXPORT_RANGE_BYTES overrides it). */
export const RANGE_BYTES = 32 * 1024 * 1024;

export function rangeBytes(env: NodeJS.ProcessEnv): number {
  const set = Number(env.EXPORT_RANGE_BYTES);
  return Number.isInteger(set) && set > 0 ? set : RANGE_BYTES;
}

/**
 * How many page ranges a table's COPY is cut into: one below twice the range size, else one per
 * range size, at most --jobs. Only on PostgreSQL 14+, where `ctid` ranges are read by a TID range
 * scan; before that each range would read the whole table. Pure.
 */
export function rangesFor(table: { bytes: number }, jobs: number, serverMajor: number, size = RANGE_BYTES): number {
  if (serverMajor < 14) return 1;
  return Math.max(1, Math.min(jobs, Math.floor(table.bytes / size)));
}

/** pg_dump's scope for schema.sql: the user's own patterns, as db:backup passes them. */
function schemaScope(options: ExportOptions): string[] {
  return [
    ...options.tables.map((t) => `--table=${t}`),
    ...options.schemas.map((s) => `--schema=${s}`),
    ...options.excludeTables.map((t) => `--exclude-table=${t}`),
  ];
}

async function chooseTables(client: Client, options: ExportOptions): Promise<SnapshotTable[]> {
  const all = await readTables(client);
  const { chosen, unmatched } = selectTables(all, options);
  if (unmatched.length) {
    throw new KitError('NOTHING_MATCHED', `No table matches ${unmatched.map((p) => `"${p}"`).join(', ')} (pg_dump's pattern syntax: schema.table, * and ? as wildcards, "Quoted" for exact names). Nothing was exported.`);
  }
  return chosen;
}

interface Session {
  client: Client;
  facts: ServerFacts;
  psql: LocatedTool;
  pgDump: LocatedTool;
  snapshot: { id: string; takenAt: string };
  /** --differential: the next differential's lower bound, read before the snapshot. */
  nextLowerBound: string | undefined;
  /** The extensions schema.sql creates, read in the snapshot. */
  extensions: ExtensionInfo[];
}

/** Where each file of the export is written: `rel` is its path inside the export ("data/x.csv"). */
type Placer = (rel: string) => string;

/** Every file of the export, from the session's snapshot; returns metadata.json's content. */
async function writeFiles(target: Target, options: ExportOptions, ctx: CommandContext, s: Session, id: string, place: Placer, started: Date): Promise<ExportMetadata> {
  const chosen = await chooseTables(s.client, options);
  const complete = options.tables.length + options.schemas.length + options.excludeTables.length === 0;
  const scope = { tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas, complete };
  const chain = s.nextLowerBound === undefined ? undefined : await prepareChain(postgresChainServer(s.client, chosen), chosen, scope, {
    config: configFor(ctx.root).export?.differential ?? {},
    skipUnsuitable: options.skipUnsuitable,
    newChain: options.newChain,
    envDir: path.join(backupRoot(ctx), target.env),
    nextLowerBound: s.nextLowerBound,
    notice: (m) => ctx.reporter.notice(m),
  });
  const differential = chain !== undefined && chain.info.position > 0;
  const sequences = await readSequences(s.client, complete ? undefined : chosen.map((t) => t.oid));
  const largeObjects = complete && !differential ? await countLargeObjects(s.client) : 0;
  const env = childEnv(target, ctx.env);
  const files = planFiles(chosen);
  const estimate = chosen.reduce((n, t) => n + t.bytes, 0);
  let [bytesDone, done] = [0, 0];
  ctx.reporter.progress({ phase: 'exporting', bytes: 0, estimate, done: 0, total: chosen.length });
  const schemaDone = differential ? differentialSchemaFile(place('schema.sql'), chain!) : dumpSchema(s.pgDump, env, s.snapshot.id, schemaScope(options), place('schema.sql'), ctx.signal);
  schemaDone.catch(() => undefined);
  // Biggest first, so one large table does not start last and finish alone.
  const order = [...chosen].sort((a, b) => b.bytes - a.bytes);
  const exported = await runPool(order, options.jobs, async (t): Promise<ExportTable> => {
    const file = files.get(t)!;
    if (chain) {
      const table = await exportChainTable({ ...chain.job, client: s.client, psql: s.psql, env, snapshotId: s.snapshot.id, place, signal: ctx.signal }, t, file);
      ctx.reporter.progress({ phase: 'exporting', bytes: (bytesDone += table.bytes), estimate, done: ++done, total: chosen.length, detail: t.name });
      return table;
    }
    const pages = t.pages ?? 0;
    const ranges = t.extensionFilter ? 1 : Math.min(rangesFor(t, options.jobs, s.facts.major, rangeBytes(ctx.env)), Math.max(1, pages));
    const written = await copyTableInRanges(s.psql, env, s.snapshot.id, { ...t, pages }, ranges, place(file), ctx.signal);
    bytesDone += written.bytes;
    ctx.reporter.progress({ phase: 'exporting', bytes: bytesDone, estimate, done: ++done, total: chosen.length, detail: t.name });
    return { ...exportedTable(t, file, written), ...(ranges > 1 ? { ranges } : {}) };
  });
  const lo = largeObjects > 0 ? await copyToFile(s.psql, env, s.snapshot.id, LARGE_OBJECTS_QUERY, place(LARGE_OBJECTS_FILE), ctx.signal) : undefined;
  const schema = await schemaDone;
  ctx.signal.throwIfAborted();
  return { ...metadataOf(target, ctx, s, id, started, { scope, schema, tables: exported, sequences, lo }), ...(chain ? { chain: { ...chain.info, base: chain.info.base ?? id } } : {}) };
}

/** A table's entry in metadata.json, once its file is written. */
function exportedTable(t: SnapshotTable, file: string, written: { rows: number; bytes: number; sha256: string }): ExportTable {
  const filter = t.extensionFilter ? { extensionFilter: t.extensionFilter } : {};
  return { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, rows: written.rows, bytes: written.bytes, sha256: written.sha256, ...filter };
}

interface Written {
  scope: ExportMetadata['scope'];
  schema: Omit<ExportMetadata['schemaFile'], 'file'>;
  tables: ExportTable[];
  sequences: ExportMetadata['sequences'];
  lo: { bytes: number; sha256: string; rows: number } | undefined;
}

/** metadata.json's content for what was written. */
function metadataOf(target: Target, ctx: CommandContext, s: Session, id: string, started: Date, w: Written): ExportMetadata {
  return {
    schema: EXPORT_SCHEMA,
    version: EXPORT_VERSION,
    id,
    kit: { version: kitPackage.version, node: process.version },
    server: { version: s.facts.version, versionNum: s.facts.versionNum },
    database: { name: target.database, host: target.host, port: target.port, environment: target.env },
    snapshot: { id: s.snapshot.id, takenAt: s.snapshot.takenAt, isolation: 'repeatable read' },
    startedAt: started.toISOString(),
    finishedAt: ctx.now().toISOString(),
    settings: { ...EXPORT_SESSION_SETTINGS },
    scope: w.scope,
    schemaFile: { file: 'schema.sql', ...w.schema },
    tables: [...w.tables].sort((a, b) => a.name.localeCompare(b.name)),
    sequences: w.sequences,
    largeObjects: w.lo ? { file: LARGE_OBJECTS_FILE, bytes: w.lo.bytes, sha256: w.lo.sha256, count: w.lo.rows } : undefined,
    extensions: s.extensions,
  };
}

/**
 * An export into a zip that is encrypted on its way to the store: no file of it may be on disk
 * in plaintext, so nothing is staged. pg_dump and each COPY stream through the kit straight into
 * the zip, one at a time (a zip's entries follow each other).
 */
async function writeZipStreamed(target: Target, options: ExportOptions, ctx: CommandContext, s: Session, id: string, zip: ZipWriter, started: Date): Promise<ExportMetadata> {
  const chosen = await chooseTables(s.client, options);
  const complete = options.tables.length + options.schemas.length + options.excludeTables.length === 0;
  const scope = { tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas, complete };
  const sequences = await readSequences(s.client, complete ? undefined : chosen.map((t) => t.oid));
  const largeObjects = complete ? await countLargeObjects(s.client) : 0;
  const env = childEnv(target, ctx.env);
  const files = planFiles(chosen);
  const estimate = chosen.reduce((n, t) => n + t.bytes, 0);
  ctx.reporter.progress({ phase: 'exporting', bytes: 0, estimate, done: 0, total: chosen.length });
  const schemaEntry = new PassThrough();
  const schemaAdded = zip.add('schema.sql', schemaEntry);
  const schema = await dumpSchema(s.pgDump, env, s.snapshot.id, schemaScope(options), schemaEntry, ctx.signal);
  await schemaAdded;
  const tables: ExportTable[] = [];
  let bytes = 0;
  for (const t of chosen) {
    const file = files.get(t)!;
    const written = await copyIntoEntry(s.psql, env, s.snapshot.id, copySource(t), (csv) => zip.add(file, csv), ctx.signal);
    tables.push(exportedTable(t, file, written));
    ctx.reporter.progress({ phase: 'exporting', bytes: (bytes += written.bytes), estimate, done: tables.length, total: chosen.length, detail: t.name });
  }
  const lo = largeObjects > 0 ? await copyIntoEntry(s.psql, env, s.snapshot.id, LARGE_OBJECTS_QUERY, (csv) => zip.add(LARGE_OBJECTS_FILE, csv), ctx.signal) : undefined;
  ctx.signal.throwIfAborted();
  return metadataOf(target, ctx, s, id, started, { scope, schema, tables, sequences, lo });
}

/** --zip where the store encrypts: the zip streamed (writeZipStreamed); its artifact. */
async function commitStreamedZip(target: Target, options: ExportOptions, ctx: StoreContext, s: Session, write: BackupWrite, started: Date): Promise<{ meta: ExportMetadata; artifacts: ArtifactInfo[] }> {
  const file = `${write.id}.zip`;
  const zip = await ZipWriter.create(write.artifact(file));
  try {
    const meta = await writeZipStreamed(target, options, ctx, s, write.id, zip, started);
    await s.client.query('COMMIT');
    zip.addText('metadata.json', JSON.stringify(meta, null, 2) + '\n');
    const zipped = await zip.end();
    return { meta, artifacts: [{ file, format: 'zip', bytes: zipped.bytes, sha256: zipped.sha256 }] };
  } catch (error) {
    zip.abort();
    throw error;
  }
}

/** A differential carries no schema of its own: its chain's full export has it. */
export async function differentialSchemaFile(file: string, chain: ChainPlan): Promise<ExportMetadata['schemaFile']> {
  const text = `-- A differential export (${chain.info.position} after ${chain.info.base}): its schema is that of the chain's full export.\n`;
  await writeFile(file, text, { mode: 0o600 });
  return { file: 'schema.sql', bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), preDataBytes: Buffer.byteLength(text) };
}

/** Every file of the export with its size and sha256, metadata.json first. */
export function membersOf(meta: ExportMetadata, metadataText: string): Array<{ file: string; bytes: number; sha256: string }> {
  const metadata = { file: 'metadata.json', bytes: Buffer.byteLength(metadataText), sha256: createHash('sha256').update(metadataText).digest('hex') };
  return [metadata, ...exportFiles(meta)].map((f) => ({ file: f.file, bytes: f.bytes, sha256: f.sha256 }));
}

/** The .info of an export: the same catalog record as a backup's, listing the zip or every file. */
function exportInfo(target: Target, options: ExportOptions, ctx: CommandContext, s: Session, meta: ExportMetadata, artifacts: ArtifactInfo[], started: Date): BackupInfo {
  const info = buildInfo({
    id: meta.id,
    environment: target.env,
    options: { type: 'export', description: `${meta.chain && meta.chain.position > 0 ? `Differential export (${meta.chain.position} of ${meta.chain.base}` : `Table export (${meta.tables.length} tables as CSV`}${options.zip ? ', zipped' : ''})`, tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas },
    started,
    finished: ctx.now(),
    database: infoDatabase(target, s.facts),
    pgDump: { path: s.pgDump.path, version: s.pgDump.version },
    snapshot: s.snapshot.id,
    serverTime: new Date(s.snapshot.takenAt),
    artifacts,
    stats: undefined,
    source: 'none',
    largeObjects: meta.largeObjects?.count ?? 0,
  });
  // A differential is restored through its chain: retention must keep the exports it follows.
  const link = meta.chain && meta.chain.position > 0 && meta.chain.parent ? { chain: { base: meta.chain.base, parent: meta.chain.parent } } : {};
  return { ...info, restore: {}, ...link };
}

export function located(where: string, name: string): string {
  return isRemoteLocation(where) ? `${where}/${name}` : path.join(where, name);
}

/**
 * Either form is a catalog entry like any backup (listed, verified, pruned by retention,
 * uploaded when a remote is configured), written through the environment's store:
 *  - a directory `<id>/` whose every file is an artifact of the .info; the store builds it as
 *    `<id>.partial/` and renames it whole before the .sha256 and the .info are written;
 *  - with --zip, one `<id>.zip`, zipped from a work directory `<id>.partial/` removed before commit.
 */
async function commitExport(target: Target, options: ExportOptions, ctx: StoreContext, s: Session, write: BackupWrite, started: Date): Promise<{ meta: ExportMetadata; path: string }> {
  if (options.zip && write.artifactPath(`${write.id}.zip`) === undefined) {
    const { meta, artifacts } = await commitStreamedZip(target, options, ctx, s, write, started);
    const stored = await write.commit(exportInfo(target, options, ctx, s, meta, artifacts, started));
    return { meta, path: located(stored.where, `${write.id}.zip`) };
  }
  const envDir = path.join(backupRoot(ctx), target.env);
  const work = path.join(envDir, `${write.id}${PARTIAL_SUFFIX}`);
  const place: Placer = options.zip
    ? (rel) => path.join(work, rel)
    : (rel) => write.artifactPath(`${write.id}/${rel}`) ?? path.join(work, rel);
  if (options.zip) for (const dir of ['data', 'keys', 'deleted']) await mkdir(path.join(work, dir), { recursive: true, mode: 0o700 });
  const meta = await writeFiles(target, options, ctx, s, write.id, place, started);
  await s.client.query('COMMIT');
  const text = JSON.stringify(meta, null, 2) + '\n';
  await writeFile(place('metadata.json'), text, { mode: 0o600 });
  let artifacts: ArtifactInfo[];
  if (options.zip) {
    ctx.reporter.progress({ phase: 'zipping', bytes: 0 });
    const file = `${write.id}.zip`;
    const zipped = await zipDirectory(work, membersOf(meta, text).map((m) => m.file), write.artifact(file));
    await rm(work, { recursive: true, force: true });
    artifacts = [{ file, format: 'zip', bytes: zipped.bytes, sha256: zipped.sha256 }];
  } else {
    artifacts = membersOf(meta, text).map((m) => ({ ...m, file: `${write.id}/${m.file}`, format: 'export-file' as const }));
  }
  const stored = await write.commit(exportInfo(target, options, ctx, s, meta, artifacts, started));
  return { meta, path: located(stored.where, options.zip ? `${write.id}.zip` : write.id) };
}

/**
 * A directory export is plain CSV for other tools: where this environment's backups must be
 * encrypted, only the zip (encrypted as one file, like any backup) may be written.
 */
export function refuseUnencryptedDirectory(write: BackupWrite): void {
  if (write.artifactPath(`${write.id}/metadata.json`) !== undefined) return;
  throw new KitError('UNSUPPORTED_MODE', `Backups of this environment are encrypted with age, and a directory export would store its tables as plaintext CSV files. Use --zip (the zip is encrypted like any backup; decrypt it with age -d, then pnpm db:import -- <the .zip>). Nothing was exported.`);
}

/**
 * A differential reads the key lists of the export before it, which an encrypted environment
 * stores only inside an age-encrypted zip the kit cannot open without the identity.
 */
export function refuseEncryptedChain(write: BackupWrite): void {
  if (write.artifactPath(`${write.id}/metadata.json`) !== undefined) return;
  throw new KitError('UNSUPPORTED_MODE', `Backups of this environment are encrypted with age, and a differential export needs to read the previous export's key lists, which would be encrypted. Take full exports (--zip) here. Nothing was exported.`);
}

/**
 * What exports that were killed left in the environment's directory: their work directories and
 * partial zips ("backup_export_<time>.partial", "….zip.partial", and the ".export-work-…"
 * directories of older kits). Called with the environment's lock held, so no live run owns them.
 */
export function removeDeadRuns(envDir: string, notice: (message: string) => void): void {
  let names: string[];
  try {
    names = readdirSync(envDir);
  } catch {
    return;
  }
  for (const name of names) {
    const stem = stemOf(name);
    const ours = stem !== undefined && typeOfStem(stem) === 'export' && name.endsWith(PARTIAL_SUFFIX);
    if (!ours && !name.startsWith('.export-work-backup_export_')) continue;
    rmSync(path.join(envDir, name), { recursive: true, force: true });
    notice(`removed ${name}, left behind by an export that was stopped before it finished`);
  }
}

/**
 * A second Ctrl-C quits at once, past every finally: the process's exit still removes this run's
 * unfinished files (a SIGKILL leaves them to the next run's removeDeadRuns).
 */
export function removeOnExit(envDir: string, id: string): () => void {
  const onExit = () => {
    for (const name of [`${id}${PARTIAL_SUFFIX}`, `${id}.zip${PARTIAL_SUFFIX}`]) rmSync(path.join(envDir, name), { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return () => process.off('exit', onExit);
}

export async function exportTables(target: Target, options: ExportOptions, ctx: StoreContext): Promise<ExportResult> {
  const started = ctx.now();
  await ensurePrivateDir(path.join(backupRoot(ctx), target.env));
  const engine = engineForTarget(target);
  if (engine.csvExport) {
    removeDeadRuns(path.join(backupRoot(ctx), target.env), (message) => ctx.reporter.notice(message));
    try {
      return await exportThroughEngine(target, options, ctx, engine, engine.csvExport, started);
    } catch (error) {
      throw (await engine.serverGone(error, target, 'export', 'No export was written')) ?? error;
    }
  }
  let client: Client | undefined;
  let write: BackupWrite | undefined;
  try {
    removeDeadRuns(path.join(backupRoot(ctx), target.env), (message) => ctx.reporter.notice(message));
    ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
    client = await connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal);
    const facts = await serverFacts(client);
    let nextLowerBound: string | undefined;
    if (options.differential) {
      await client.query(sessionSettingsSql());
      nextLowerBound = await readNextLowerBound(client);
    }
    const session: Session = {
      client,
      facts,
      psql: await locateTool('psql', facts.major, ctx.env),
      pgDump: await locateTool('pg_dump', facts.major, ctx.env),
      snapshot: await openSnapshot(client),
      nextLowerBound,
      extensions: [],
    };
    // pg_dump writes a CREATE EXTENSION for each, unless --table or --schema narrowed the dump.
    session.extensions = options.tables.length || options.schemas.length ? [] : await readExtensions(client);
    write = await ctx.environment(target.env).store.beginWrite('export', started);
    if (!options.zip) refuseUnencryptedDirectory(write);
    if (options.differential) refuseEncryptedChain(write);
    const unhook = removeOnExit(path.join(backupRoot(ctx), target.env), write.id);
    let committed;
    try {
      committed = await commitExport(target, options, ctx, session, write, started);
    } finally {
      unhook();
    }
    write = undefined;
    const { meta, path: where } = committed;
    return {
      id: meta.id,
      environment: target.env,
      path: where,
      zip: options.zip,
      tables: meta.tables.length,
      rows: meta.tables.reduce((n, t) => n + t.rows, 0),
      bytes: meta.tables.reduce((n, t) => n + t.bytes, 0) + meta.schemaFile.bytes + (meta.largeObjects?.bytes ?? 0),
      durationMs: ctx.now().getTime() - started.getTime(),
      database: { name: target.database, host: target.host, port: target.port },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      ...(meta.chain ? { chain: chainSummary(meta) } : {}),
    };
  } catch (error) {
    await write?.abort().catch((failure: Error) => ctx.reporter.notice(`could not remove the unfinished export ${write!.id} (${failure.message}); the next db:export or db:retention removes it`));
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted. No export was written.');
    throw (await engineForTarget(target).serverGone(error, target, 'export', 'No export was written')) ?? error;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export function chainSummary(meta: ExportMetadata): NonNullable<ExportResult['chain']> {
  const chain = meta.chain!;
  return {
    base: chain.base,
    parent: chain.parent,
    position: chain.position,
    changedRows: meta.tables.reduce((n, t) => n + t.rows, 0),
    deletedRows: meta.tables.reduce((n, t) => n + (t.chain?.deleted?.rows ?? 0), 0),
    reason: chain.reason,
  };
}
