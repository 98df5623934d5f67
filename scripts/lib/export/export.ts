/**
 * A table export: one exported snapshot; every chosen table's rows as CSV (`COPY … TO STDOUT WITH
 * (FORMAT csv, HEADER)`), `--jobs` at a time; schema.sql from pg_dump with the same snapshot;
 * metadata.json last. Written under a partial name and renamed when complete (or zipped), so an
 * interrupted export never looks complete.
 */
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import kitPackage from '../../../package.json' with { type: 'json' };
import { KitError } from '../errors.js';
import { childEnv, type Target } from '../config/target.js';
import { connectWithWait, serverFacts, type Client } from '../pg/connect.js';
import { locateTool } from '../proc/pg-tools.js';
import { acquireLock } from '../store/lock.js';
import { commitFile, ensurePrivateDir, PARTIAL_SUFFIX, syncDir, writeFileAtomic } from '../store/files.js';
import { backupRoot, type CommandContext } from '../context.js';
import { formatStamp } from '../format/naming.js';
import { dataFileName, EXPORT_SCHEMA, EXPORT_SESSION_SETTINGS, EXPORT_VERSION, type ExportMetadata, type ExportTable } from '../format/export-metadata.js';
import { serverGoneError } from '../backup/backup.js';
import { countLargeObjects, openSnapshot, readSequences, readTables, type SnapshotTable } from './snapshot.js';
import { selectTables } from './select.js';
import { copyToFile, dumpSchema, runPool } from './copy.js';
import { zipDirectory } from './zip.js';

export interface ExportOptions {
  tables: string[];
  schemas: string[];
  excludeTables: string[];
  jobs: number;
  zip: boolean;
  waitSeconds: number;
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

export async function exportTables(target: Target, options: ExportOptions, ctx: CommandContext): Promise<ExportResult> {
  const started = ctx.now();
  const dir = path.join(backupRoot(ctx), target.env);
  await ensurePrivateDir(dir);
  const lock = acquireLock(dir, 'export', target.env);
  let client: Client | undefined;
  let work: string | undefined;
  let zipPartial: string | undefined;
  try {
    ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
    client = await connectWithWait(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`));
    const facts = await serverFacts(client);
    const [psql, pgDump] = [await locateTool('psql', facts.major, ctx.env), await locateTool('pg_dump', facts.major, ctx.env)];
    const snapshot = await openSnapshot(client);
    const chosen = await chooseTables(client, options);
    const complete = options.tables.length + options.schemas.length + options.excludeTables.length === 0;
    const sequences = await readSequences(client, complete ? undefined : chosen.map((t) => t.oid));
    const largeObjects = complete ? await countLargeObjects(client) : 0;

    const id = exportId(started, new Set(await readdir(dir)));
    work = path.join(dir, `${id}${PARTIAL_SUFFIX}`);
    await mkdir(path.join(work, 'data'), { recursive: true, mode: 0o700 });
    const env = childEnv(target, ctx.env);
    const files = planFiles(chosen);
    let bytesDone = 0;
    const estimate = chosen.reduce((n, t) => n + t.bytes, 0);

    ctx.reporter.progress({ phase: 'exporting', bytes: 0, estimate, done: 0, total: chosen.length });
    const schemaDone = dumpSchema(pgDump, env, snapshot.id, schemaScope(options), path.join(work, 'schema.sql'), ctx.signal);
    schemaDone.catch(() => undefined);
    // Biggest first, so one large table does not start last and finish alone.
    const order = [...chosen].sort((a, b) => b.bytes - a.bytes);
    let done = 0;
    const exported = await runPool(order, options.jobs, async (t): Promise<ExportTable> => {
      const file = files.get(t)!;
      const written = await copyToFile(psql, env, snapshot.id, t.name, path.join(work!, file), ctx.signal);
      bytesDone += written.bytes;
      ctx.reporter.progress({ phase: 'exporting', bytes: bytesDone, estimate, done: ++done, total: chosen.length, detail: t.name });
      return { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, rows: written.rows, bytes: written.bytes, sha256: written.sha256 };
    });
    const lo = largeObjects > 0 ? await copyToFile(psql, env, snapshot.id, LARGE_OBJECTS_QUERY, path.join(work, LARGE_OBJECTS_FILE), ctx.signal) : undefined;
    const schema = await schemaDone;
    await client.query('COMMIT');
    ctx.signal.throwIfAborted();

    const tables = exported.sort((a, b) => a.name.localeCompare(b.name));
    const metadata: ExportMetadata = {
      schema: EXPORT_SCHEMA,
      version: EXPORT_VERSION,
      id,
      kit: { version: kitPackage.version, node: process.version },
      server: { version: facts.version, versionNum: facts.versionNum },
      database: { name: target.database, host: target.host, port: target.port, environment: target.env },
      snapshot: { id: snapshot.id, takenAt: snapshot.takenAt, isolation: 'repeatable read' },
      startedAt: started.toISOString(),
      finishedAt: ctx.now().toISOString(),
      settings: { ...EXPORT_SESSION_SETTINGS },
      scope: { tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas, complete },
      schemaFile: { file: 'schema.sql', ...schema },
      tables,
      sequences,
      largeObjects: lo ? { file: LARGE_OBJECTS_FILE, bytes: lo.bytes, sha256: lo.sha256, count: lo.rows } : undefined,
    };
    await writeFileAtomic(path.join(work, 'metadata.json'), JSON.stringify(metadata, null, 2) + '\n');
    let final: string;
    if (options.zip) {
      ctx.reporter.progress({ phase: 'zipping', bytes: bytesDone });
      const members = ['metadata.json', 'schema.sql', ...tables.map((t) => t.file), ...(lo ? [LARGE_OBJECTS_FILE] : [])];
      final = path.join(dir, `${id}.zip`);
      zipPartial = `${final}${PARTIAL_SUFFIX}`;
      await zipDirectory(work, members, zipPartial);
      await commitFile(zipPartial, final);
      zipPartial = undefined;
      await rm(work, { recursive: true, force: true });
    } else {
      final = path.join(dir, id);
      await syncDir(work);
      await rename(work, final);
      await syncDir(dir);
    }
    work = undefined;
    const finished = ctx.now();
    return {
      id,
      environment: target.env,
      path: final,
      zip: options.zip,
      tables: tables.length,
      rows: tables.reduce((n, t) => n + t.rows, 0),
      bytes: tables.reduce((n, t) => n + t.bytes, 0) + schema.bytes + (lo?.bytes ?? 0),
      durationMs: finished.getTime() - started.getTime(),
      database: { name: target.database, host: target.host, port: target.port },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
    };
  } catch (error) {
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted. No export was written.');
    throw (await serverGoneError(error, target, 'export', 'No export was written')) ?? error;
  } finally {
    if (work) await rm(work, { recursive: true, force: true }).catch(() => undefined);
    if (zipPartial) await rm(zipPartial, { force: true }).catch(() => undefined);
    await client?.end().catch(() => undefined);
    lock.release();
  }
}
