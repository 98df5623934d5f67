/**
 * A table export: one exported snapshot; every chosen table's rows as CSV (`COPY … TO STDOUT WITH
 * (FORMAT csv, HEADER)`), `--jobs` at a time; schema.sql from pg_dump with the same snapshot;
 * metadata.json last. Written under a partial name and renamed when complete (or zipped), so an
 * interrupted export never looks complete.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import kitPackage from '../../../package.json' with { type: 'json' };
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, serverFacts, type Client, type ServerFacts } from '../pg/connect.js';
import { locateTool, type LocatedTool } from '../proc/pg-tools.js';
import { ensurePrivateDir, PARTIAL_SUFFIX, syncDir, writeFileAtomic } from '../store/files.js';
import type { StoreContext } from '../store/environment.js';
import { backupRoot, type CommandContext } from '../context.js';
import { formatStamp } from '../format/naming.js';
import { chainFileName, dataFileName, exportFiles, EXPORT_SCHEMA, EXPORT_SESSION_SETTINGS, EXPORT_VERSION, type ExportMetadata, type ExportTable } from '../format/export-metadata.js';
import { buildInfo, infoDatabase, serverGoneError } from '../backup/backup.js';
import { countLargeObjects, openSnapshot, readSequences, readTables, type SnapshotTable } from './snapshot.js';
import { selectTables } from './select.js';
import { copyToFile, dumpSchema, runPool } from './copy.js';
import { zipDirectory } from './zip.js';
import { exportChainTable, prepareChain, readNextLowerBound, type ChainPlan } from './differential.js';
import { configFor } from '../config/file.js';
import { sessionSettingsSql } from './snapshot.js';

export interface ExportOptions {
  tables: string[];
  schemas: string[];
  excludeTables: string[];
  jobs: number;
  zip: boolean;
  waitSeconds: number;
  /** Rows changed since the chain's previous export (a full one when there is none to follow). */
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
function planFiles(tables: SnapshotTable[]): Map<SnapshotTable, string> {
  const used = new Set<string>();
  const out = new Map<SnapshotTable, string>();
  for (const t of tables) {
    let file = dataFileName(t.schema, t.table);
    for (let n = 2; used.has(file.toLowerCase()); n++) file = dataFileName(t.schema, `${t.table}~${n}`);
    used.add(file.toLowerCase());
    out.set(t, file);
  }
  return out;
}

/** export_<UTC time>[_n]: a name no other export in the directory has (complete, partial or zipped). */
export function exportId(date: Date, names: ReadonlySet<string>): string {
  const base = `export_${formatStamp(date)}`;
  const free = (id: string) => ![id, `${id}${PARTIAL_SUFFIX}`, `${id}.zip`, `${id}.zip${PARTIAL_SUFFIX}`].some((n) => names.has(n));
  if (free(base)) return base;
  for (let n = 2; ; n++) if (free(`${base}_${n}`)) return `${base}_${n}`;
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
}

/** Every file of the export into `work`, from the session's snapshot; returns metadata.json's content. */
async function writeFiles(target: Target, options: ExportOptions, ctx: CommandContext, s: Session, id: string, work: string, started: Date): Promise<ExportMetadata> {
  const chosen = await chooseTables(s.client, options);
  const complete = options.tables.length + options.schemas.length + options.excludeTables.length === 0;
  const scope = { tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas, complete };
  const chain = s.nextLowerBound === undefined ? undefined : await prepareChain(s.client, chosen, scope, {
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
  for (const dir of ['data', ...(chain ? ['keys'] : []), ...(differential ? ['deleted'] : [])]) await mkdir(path.join(work, dir), { recursive: true, mode: 0o700 });
  const env = childEnv(target, ctx.env);
  const files = planFiles(chosen);
  const estimate = chosen.reduce((n, t) => n + t.bytes, 0);
  let [bytesDone, done] = [0, 0];
  ctx.reporter.progress({ phase: 'exporting', bytes: 0, estimate, done: 0, total: chosen.length });
  const schemaDone = differential ? differentialSchemaFile(work, chain!) : dumpSchema(s.pgDump, env, s.snapshot.id, schemaScope(options), path.join(work, 'schema.sql'), ctx.signal);
  schemaDone.catch(() => undefined);
  // Biggest first, so one large table does not start last and finish alone.
  const order = [...chosen].sort((a, b) => b.bytes - a.bytes);
  const exported = await runPool(order, options.jobs, async (t): Promise<ExportTable> => {
    const file = files.get(t)!;
    if (chain) {
      const table = await exportChainTable({ ...chain.job, psql: s.psql, env, snapshotId: s.snapshot.id, work, signal: ctx.signal }, t, file);
      ctx.reporter.progress({ phase: 'exporting', bytes: (bytesDone += table.bytes), estimate, done: ++done, total: chosen.length, detail: t.name });
      return table;
    }
    const written = await copyToFile(s.psql, env, s.snapshot.id, t.name, path.join(work, file), ctx.signal);
    bytesDone += written.bytes;
    ctx.reporter.progress({ phase: 'exporting', bytes: bytesDone, estimate, done: ++done, total: chosen.length, detail: t.name });
    return { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, rows: written.rows, bytes: written.bytes, sha256: written.sha256 };
  });
  const lo = largeObjects > 0 ? await copyToFile(s.psql, env, s.snapshot.id, LARGE_OBJECTS_QUERY, path.join(work, LARGE_OBJECTS_FILE), ctx.signal) : undefined;
  const schema = await schemaDone;
  ctx.signal.throwIfAborted();
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
    scope,
    schemaFile: { file: 'schema.sql', ...schema },
    tables: exported.sort((a, b) => a.name.localeCompare(b.name)),
    sequences,
    largeObjects: lo ? { file: LARGE_OBJECTS_FILE, bytes: lo.bytes, sha256: lo.sha256, count: lo.rows } : undefined,
    ...(chain ? { chain: { ...chain.info, base: chain.info.base ?? id } } : {}),
  };
}

/** A differential carries no schema of its own: its chain's full export has it. */
async function differentialSchemaFile(work: string, chain: ChainPlan): Promise<ExportMetadata['schemaFile']> {
  const text = `-- A differential export (${chain.info.position} after ${chain.info.base}): its schema is that of the chain's full export.\n`;
  await writeFileAtomic(path.join(work, 'schema.sql'), text);
  return { file: 'schema.sql', bytes: Buffer.byteLength(text), sha256: createHash('sha256').update(text).digest('hex'), preDataBytes: Buffer.byteLength(text) };
}

function membersOf(meta: ExportMetadata): string[] {
  return ['metadata.json', ...exportFiles(meta).map((f) => f.file)];
}

/**
 * --zip: the export becomes a catalog entry like any backup: `<id>.zip` written through the
 * environment's store (local disk, and uploaded when a remote is configured), with an .info
 * listing it, so db:list shows it, db:verify checks it and db:retention prunes it.
 */
async function commitZip(target: Target, options: ExportOptions, ctx: StoreContext, s: Session, started: Date): Promise<{ meta: ExportMetadata; path: string }> {
  const write = await ctx.environment(target.env).store.beginWrite('export', started);
  const work = path.join(backupRoot(ctx), target.env, `.export-work-${write.id}`);
  try {
    const meta = await writeFiles(target, options, ctx, s, write.id, work, started);
    await writeFileAtomic(path.join(work, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
    await s.client.query('COMMIT');
    ctx.reporter.progress({ phase: 'zipping', bytes: 0 });
    const file = `${write.id}.zip`;
    const zipped = await zipDirectory(work, membersOf(meta), write.artifact(file));
    const info = buildInfo({
      id: write.id,
      environment: target.env,
      options: { type: 'export', description: `Table export (${meta.tables.length} tables as CSV)`, tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas },
      started,
      finished: ctx.now(),
      database: infoDatabase(target, s.facts),
      pgDump: { path: s.pgDump.path, version: s.pgDump.version },
      snapshot: s.snapshot.id,
      artifacts: [{ file, format: 'zip', bytes: zipped.bytes, sha256: zipped.sha256 }],
      stats: undefined,
      source: 'none',
      largeObjects: meta.largeObjects?.count ?? 0,
    });
    const stored = await write.commit({ ...info, restore: {} });
    return { meta, path: path.join(stored.where, file) };
  } catch (error) {
    await write.abort().catch(() => undefined);
    throw error;
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/** The directory form: export_<time>/ beside the backups, renamed into place when complete. */
async function commitDirectory(target: Target, options: ExportOptions, ctx: CommandContext, s: Session, started: Date): Promise<{ meta: ExportMetadata; path: string }> {
  const dir = path.join(backupRoot(ctx), target.env);
  const id = exportId(started, new Set(await readdir(dir)));
  const work = path.join(dir, `${id}${PARTIAL_SUFFIX}`);
  try {
    const meta = await writeFiles(target, options, ctx, s, id, work, started);
    await s.client.query('COMMIT');
    await writeFileAtomic(path.join(work, 'metadata.json'), JSON.stringify(meta, null, 2) + '\n');
    await syncDir(work);
    await rename(work, path.join(dir, id));
    await syncDir(dir);
    return { meta, path: path.join(dir, id) };
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

export async function exportTables(target: Target, options: ExportOptions, ctx: StoreContext): Promise<ExportResult> {
  const started = ctx.now();
  await ensurePrivateDir(path.join(backupRoot(ctx), target.env));
  const lock = await ctx.environment(target.env).store.lock('export');
  let client: Client | undefined;
  try {
    ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
    client = await connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`));
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
    };
    const { meta, path: where } = options.zip ? await commitZip(target, options, ctx, session, started) : await commitDirectory(target, options, ctx, session, started);
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
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted. No export was written.');
    throw (await serverGoneError(error, target, 'export', 'No export was written')) ?? error;
  } finally {
    await client?.end().catch(() => undefined);
    lock.release();
  }
}

function chainSummary(meta: ExportMetadata): NonNullable<ExportResult['chain']> {
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
