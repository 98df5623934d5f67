/**
 * A table export through an engine that reads it on its own connection (Engine.csvExport: MySQL,
 * MariaDB): the same catalog entry, files and guarantees as export.ts gives PostgreSQL's — one
 * snapshot for every table, files under a partial name until complete (or one zip, streamed when
 * the store encrypts), metadata.json and the .info last — with the engine doing the reading.
 * Tables are read one after another: one connection holds the snapshot, so --jobs has nothing
 * to share out.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import kitPackage from '../../../package.json' with { type: 'json' };
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import type { CsvExportEngine, CsvExportSession, CsvExportTable, Engine } from '../engines/engine.js';
import { backupRoot } from '../context.js';
import type { StoreContext } from '../store/environment.js';
import type { BackupWrite } from '../store/store.js';
import { PARTIAL_SUFFIX } from '../store/files.js';
import type { ArtifactInfo, BackupInfo } from '../format/metadata.js';
import { EXPORT_SCHEMA, EXPORT_VERSION, type ExportMetadata, type ExportTable } from '../format/export-metadata.js';
import { buildInfo } from '../backup/backup.js';
import { selectTables } from './select.js';
import { zipDirectory, ZipWriter } from './zip.js';
import { chainSummary, differentialSchemaFile, located, membersOf, planFiles, refuseEncryptedChain, refuseUnencryptedDirectory, removeOnExit, type ExportOptions, type ExportResult } from './export.js';
import { prepareChain, type ChainPlan } from './differential.js';
import { configFor } from '../config/file.js';
import { csvChainServer, exportCsvChainTable } from './engine-differential.js';

interface Run {
  target: Target;
  options: ExportOptions;
  ctx: StoreContext;
  engine: Engine;
  session: CsvExportSession;
  started: Date;
}

/** A file of the export: a path to write, or an entry of a zip being streamed. */
type Sink = (rel: string) => { stream: Writable; added: Promise<void> };

function chooseTables(run: Run): CsvExportTable[] {
  const { chosen, unmatched } = selectTables(run.session.tables, run.options);
  if (unmatched.length) {
    throw new KitError('NOTHING_MATCHED', `No table matches ${unmatched.map((p) => `"${p}"`).join(', ')} (database.table or table, * and ? as wildcards). Nothing was exported.`);
  }
  return chosen;
}

/** --differential: the chain this export joins (or starts), decided in the snapshot. */
async function planChain(run: Run, chosen: CsvExportTable[], scope: ExportMetadata['scope']): Promise<ChainPlan | undefined> {
  const { ctx, session, options, target } = run;
  if (!options.differential) return undefined;
  return prepareChain(csvChainServer(session, chosen), chosen, scope, {
    config: configFor(ctx.root).export?.differential ?? {},
    skipUnsuitable: options.skipUnsuitable,
    newChain: options.newChain,
    envDir: path.join(backupRoot(ctx), target.env),
    nextLowerBound: session.chain!.nextLowerBound,
    notice: (m) => ctx.reporter.notice(m),
  });
}

/** Every table and schema.sql through `sink` (a chain's files through `place`); returns metadata.json's content. */
async function writeAll(run: Run, id: string, sink: Sink, place?: (rel: string) => string): Promise<{ meta: ExportMetadata; tool: { path: string; version: string } }> {
  const { ctx, session, options } = run;
  const chosen = chooseTables(run);
  const complete = options.tables.length + options.schemas.length + options.excludeTables.length === 0;
  const scope = { tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas, complete };
  const chain = await planChain(run, chosen, scope);
  if (chain && !place) throw new KitError('INTERNAL', 'A differential export is written as files.');
  const files = planFiles(chosen);
  const estimate = chosen.reduce((n, t) => n + t.bytes, 0);
  const tables: ExportTable[] = [];
  let bytes = 0;
  ctx.reporter.progress({ phase: 'exporting', bytes: 0, estimate, done: 0, total: chosen.length });
  for (const t of chosen) {
    const file = files.get(t)!;
    let table: ExportTable;
    if (chain) {
      table = await exportCsvChainTable({ ...chain.job, session, place: place!, signal: ctx.signal }, t, file);
    } else {
      const out = sink(file);
      const written = await session.writeTable(t, out.stream, ctx.signal);
      await out.added;
      table = { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, ...written };
    }
    tables.push(table);
    ctx.reporter.progress({ phase: 'exporting', bytes: (bytes += table.bytes), estimate, done: tables.length, total: chosen.length, detail: t.table });
  }
  await session.commit();
  const differential = chain !== undefined && chain.info.position > 0;
  let schema: { bytes: number; sha256: string; preDataBytes: number; tool?: { path: string; version: string } };
  if (differential) {
    // a differential carries no schema of its own: its chain's full export has it
    schema = await differentialSchemaFile(place!('schema.sql'), chain);
  } else {
    const out = sink('schema.sql');
    schema = await session.writeSchema(complete ? undefined : chosen.map((t) => t.table), out.stream, ctx.signal);
    await out.added;
  }
  ctx.signal.throwIfAborted();
  const meta = metadataOf(run, id, scope, schema, tables);
  return { meta: chain ? { ...meta, chain: { ...chain.info, base: chain.info.base ?? id } } : meta, tool: schema.tool ?? { path: 'none (a differential has no schema of its own)', version: '' } };
}

function metadataOf(run: Run, id: string, scope: ExportMetadata['scope'], schema: { bytes: number; sha256: string; preDataBytes: number }, tables: ExportTable[]): ExportMetadata {
  const { target, session } = run;
  return {
    schema: EXPORT_SCHEMA,
    version: EXPORT_VERSION,
    engine: run.engine.name,
    id,
    kit: { version: kitPackage.version, node: process.version },
    server: { version: session.facts.version, versionNum: session.facts.versionNum },
    database: { name: target.database, host: target.host, port: target.port, environment: target.env },
    snapshot: { id: session.snapshot.id, takenAt: session.snapshot.takenAt, isolation: 'repeatable read' },
    startedAt: run.started.toISOString(),
    finishedAt: run.ctx.now().toISOString(),
    settings: session.settings,
    scope,
    schemaFile: { file: 'schema.sql', bytes: schema.bytes, sha256: schema.sha256, preDataBytes: schema.preDataBytes },
    tables: [...tables].sort((a, b) => a.name.localeCompare(b.name)),
    sequences: {},
    largeObjects: undefined,
  };
}

function infoOf(run: Run, meta: ExportMetadata, artifacts: ArtifactInfo[], tool: { path: string; version: string }): BackupInfo {
  const { target, session, options } = run;
  const info = buildInfo({
    id: meta.id,
    engine: run.engine.name,
    environment: target.env,
    options: { type: 'export', description: `${meta.chain && meta.chain.position > 0 ? `Differential export (${meta.chain.position} of ${meta.chain.base}` : `Table export (${meta.tables.length} tables as CSV`}${options.zip ? ', zipped' : ''})`, tables: options.tables, excludeTables: options.excludeTables, schemas: options.schemas },
    started: run.started,
    finished: run.ctx.now(),
    database: { name: target.database, host: target.host, port: target.port, user: target.user, serverVersion: session.facts.version, serverVersionNum: session.facts.versionNum, sizeBytes: meta.tables.reduce((n, t) => n + t.bytes, 0), configuredBy: target.source, ...(session.facts.flavour ? { flavour: session.facts.flavour } : {}) },
    pgDump: tool,
    snapshot: session.snapshot.id,
    serverTime: new Date(session.snapshot.takenAt),
    artifacts,
    stats: undefined,
    source: 'none',
    largeObjects: 0,
  });
  // A differential is restored through its chain: retention must keep the exports it follows.
  const link = meta.chain && meta.chain.position > 0 && meta.chain.parent ? { chain: { base: meta.chain.base, parent: meta.chain.parent } } : {};
  return { ...info, restore: {}, ...link };
}

const toFile = (place: (rel: string) => string): Sink => (rel) => ({ stream: createWriteStream(place(rel), { mode: 0o600 }), added: Promise.resolve() });

/** The export written as files (a directory, or a work directory zipped after); returns where it went. */
async function commitFiles(run: Run, write: BackupWrite): Promise<{ meta: ExportMetadata; path: string }> {
  const { options, ctx, target } = run;
  const work = path.join(backupRoot(ctx), target.env, `${write.id}${PARTIAL_SUFFIX}`);
  const place = options.zip ? (rel: string) => path.join(work, rel) : (rel: string) => write.artifactPath(`${write.id}/${rel}`) ?? path.join(work, rel);
  if (options.zip) for (const dir of ['data', 'keys', 'deleted']) await mkdir(path.join(work, dir), { recursive: true, mode: 0o700 });
  const { meta, tool } = await writeAll(run, write.id, toFile(place), place);
  const text = JSON.stringify(meta, null, 2) + '\n';
  await writeFile(place('metadata.json'), text, { mode: 0o600 });
  let artifacts: ArtifactInfo[];
  if (options.zip) {
    ctx.reporter.progress({ phase: 'zipping', bytes: 0 });
    const zipped = await zipDirectory(work, membersOf(meta, text).map((m) => m.file), write.artifact(`${write.id}.zip`));
    await rm(work, { recursive: true, force: true });
    artifacts = [{ file: `${write.id}.zip`, format: 'zip', bytes: zipped.bytes, sha256: zipped.sha256 }];
  } else {
    artifacts = membersOf(meta, text).map((m) => ({ ...m, file: `${write.id}/${m.file}`, format: 'export-file' as const }));
  }
  const stored = await write.commit(infoOf(run, meta, artifacts, tool));
  return { meta, path: located(stored.where, options.zip ? `${write.id}.zip` : write.id) };
}

/** --zip where the store encrypts: every entry streamed into the zip, nothing on disk in plaintext. */
async function commitStreamedZip(run: Run, write: BackupWrite): Promise<{ meta: ExportMetadata; path: string }> {
  const file = `${write.id}.zip`;
  const zip = await ZipWriter.create(write.artifact(file));
  try {
    const sink: Sink = (rel) => {
      const stream = new PassThrough();
      return { stream, added: zip.add(rel, stream) };
    };
    const { meta, tool } = await writeAll(run, write.id, sink);
    zip.addText('metadata.json', JSON.stringify(meta, null, 2) + '\n');
    const zipped = await zip.end();
    const stored = await write.commit(infoOf(run, meta, [{ file, format: 'zip', bytes: zipped.bytes, sha256: zipped.sha256 }], tool));
    return { meta, path: located(stored.where, file) };
  } catch (error) {
    zip.abort();
    throw error;
  }
}

export async function exportThroughEngine(target: Target, options: ExportOptions, ctx: StoreContext, engine: Engine, csv: CsvExportEngine, started: Date): Promise<ExportResult> {
  ctx.reporter.progress({ phase: 'connecting', bytes: 0 });
  const session = await csv.open(target, options.waitSeconds, (attempt, error) => ctx.reporter.notice(`waiting for the server (attempt ${attempt}): ${error.message.split('. ')[0]}`), ctx.signal, { differential: options.differential });
  let write: BackupWrite | undefined;
  try {
    for (const notice of session.notices) ctx.reporter.notice(notice);
    write = await ctx.environment(target.env).store.beginWrite('export', started);
    if (!options.zip) refuseUnencryptedDirectory(write);
    if (options.differential) refuseEncryptedChain(write);
    const run: Run = { target, options, ctx, engine, session, started };
    const unhook = removeOnExit(path.join(backupRoot(ctx), target.env), write.id);
    let committed;
    try {
      committed = options.zip && write.artifactPath(`${write.id}.zip`) === undefined ? await commitStreamedZip(run, write) : await commitFiles(run, write);
    } finally {
      unhook();
    }
    write = undefined;
    const { meta } = committed;
    return {
      id: meta.id,
      environment: target.env,
      path: committed.path,
      zip: options.zip,
      tables: meta.tables.length,
      rows: meta.tables.reduce((n, t) => n + t.rows, 0),
      bytes: meta.tables.reduce((n, t) => n + t.bytes, 0) + meta.schemaFile.bytes,
      durationMs: ctx.now().getTime() - started.getTime(),
      database: { name: target.database, host: target.host, port: target.port },
      peakRssBytes: process.resourceUsage().maxRSS * 1024,
      ...(meta.chain ? { chain: chainSummary(meta) } : {}),
    };
  } catch (error) {
    await write?.abort().catch((failure: Error) => ctx.reporter.notice(`could not remove the unfinished export ${write!.id} (${failure.message}); the next db:export or db:retention removes it`));
    if (ctx.signal.aborted) throw new KitError('INTERRUPTED', 'Interrupted. No export was written.');
    throw error;
  } finally {
    await session.close().catch(() => undefined);
  }
}
