/**
 * Which backup file a restore reads, and proof that it is intact before anything changes:
 * checksums against .info, the archive readable end to end by a pg_restore that knows its
 * format version, and the statistics to check the restored data against.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { FORMATS, stemOf, type Format } from '../format/naming.js';
import type { DumpStats, Engine, LocatedTool, RestoreSource, TocEntry } from '../engines/engine.js';
import { latestReadable } from '../store/catalog.js';
import { readInfoAt } from '../store/local.js';
import type { BackupStore, Listing, StoredBackup } from '../store/store.js';
import { sha256File } from '../store/files.js';
import { tarProblem } from '../format/tar.js';
import { formatIsReadable, inspectArchive, pgRestoreNeededFor } from '../format/archive.js';

export type { RestoreSource, TocEntry } from '../engines/engine.js';

export interface SourceRequest {
  input: string | undefined;
  latest: boolean;
  type: string | undefined;
  /** The store of the source environment's backups. */
  store: BackupStore;
  /** Formats acceptable for the requested mode, best first. */
  formats: Format[];
  pick?: (entries: StoredBackup[]) => Promise<StoredBackup | undefined>;
  /** The clock --latest judges "newest" by (backups dated after it are passed over). */
  now?: Date;
  /** Where a warning goes (a backup dated in the future). */
  warn?: (message: string) => void;
  /** --latest: only backups of this database (the target's, when the source is its environment). */
  database?: string | undefined;
  /** --latest: also the safety backups the kit takes before it changes a database. */
  includeSafety?: boolean;
}

/** Taken by the kit before it changed a database: never "the latest backup" unless asked. */
export const SAFETY_TYPES = ['pre-restore', 'pre-import', 'pre-drop'];

/**
 * What --latest chooses among: safety backups are left out unless --include-safety or their
 * --type is given; of the rest, the backups of the target's database when there are any (a
 * directory that holds only another database's backups still restores its newest, and the
 * confirmation and --json say it is another database's). Pure.
 */
export function latestCandidates(entries: StoredBackup[], request: Pick<SourceRequest, 'type' | 'database' | 'includeSafety'>): StoredBackup[] {
  const chosen = entries.filter((e) => request.type !== undefined || request.includeSafety === true || !SAFETY_TYPES.includes(e.info.type));
  const own = chosen.filter((e) => e.info.database.name === request.database);
  return own.length > 0 ? own : chosen;
}

function noLatest(listing: Listing, request: SourceRequest, where: string): KitError {
  const safety = listing.complete.find((e) => SAFETY_TYPES.includes(e.info.type));
  const hint = safety && request.type === undefined ? ` Only safety backups are there (the newest: ${safety.id}, of database ${safety.info.database.name}); --include-safety takes those, or name one.` : ' Take one with pnpm db:backup, or name a file.';
  return new KitError('BACKUP_NOT_FOUND', `No complete backup${request.type ? ` of type ${request.type}` : ''} in ${where}.${hint}`);
}

export type ResolvedSource = Omit<RestoreSource, 'header'> & {
  /** Done with the file: a temporary copy from a remote store is deleted. */
  release(): Promise<void>;
  /** The backup as the store listed it, when it came from the store: its other files (globals.sql) are fetched from it without listing again. */
  entry?: StoredBackup;
  /** The store it was listed in. */
  store?: BackupStore;
};

async function fromEntry(entry: StoredBackup, store: BackupStore, formats: Format[]): Promise<ResolvedSource> {
  const { info } = entry;
  for (const format of formats) {
    const artifact = info.artifacts.find((a) => a.format === format);
    if (!artifact || !entry.files.includes(artifact.file)) continue;
    const copy = await store.localFile(entry, artifact.file);
    return { file: copy.path, format, info, artifact, id: info.id, release: copy.release, entry, store, ...(copy.proven ? { proven: true } : {}) };
  }
  const have = info.artifacts.map((a) => a.format).join(', ');
  throw new KitError('BACKUP_NOT_FOUND', `Backup ${info.id} has no usable artifact for this restore (it lists ${have}; needed one of ${formats.join(', ')}, present in ${store.where}).`);
}

const noRelease = async (): Promise<void> => undefined;

export async function resolveSource(request: SourceRequest): Promise<ResolvedSource> {
  const { input, store, formats } = request;
  if (input === undefined) {
    const all = await store.list();
    // Only backups this restore can use: a table export (a zip) is never "the latest backup".
    const listing = { ...all, complete: all.complete.filter((e) => e.info.artifacts.some((a) => (formats as string[]).includes(a.format))) };
    const entries = listing.complete.filter((e) => request.type === undefined || e.info.type === request.type);
    if (request.latest) {
      const latest = latestReadable({ ...listing, complete: latestCandidates(listing.complete, request) }, request.type, store.where, request.now ?? new Date(), request.warn);
      if (!latest) throw noLatest(listing, request, store.where);
      return fromEntry(latest, store, formats);
    }
    if (!request.pick) {
      throw new KitError('USAGE', 'Name the backup to restore (a file, a backup id, or --latest [--type <type>]). Without a terminal there is no list to pick from.');
    }
    if (entries.length === 0) throw new KitError('BACKUP_NOT_FOUND', `No complete backups in ${store.where} to pick from.`);
    const picked = await request.pick(entries);
    if (!picked) throw new KitError('NOT_CONFIRMED', 'No backup was picked; nothing was changed.');
    return fromEntry(picked, store, formats);
  }
  if (existsSync(input)) return standaloneFile(input, formats);
  const id = input.replace(/\.info$/, '');
  const listing = await store.list();
  const entry = listing.complete.find((e) => e.id === id);
  if (entry) return fromEntry(entry, store, formats);
  const broken = listing.leftovers.find((l) => l.id === id && l.name === `${id}.info`);
  if (broken) throw new KitError('INTEGRITY_FAILED', `Backup ${id} cannot be used: ${broken.reason}. Its artifacts can still be restored by file name (pnpm db:restore -- <file>), checked against ${id}.sha256. Nothing was changed.`);
  throw new KitError('BACKUP_NOT_FOUND', `No backup file or backup id "${input}" (looked for the file, and for a backup ${id} in ${store.where}). List backups with pnpm db:list, or use --latest.`);
}

/** A file named on the command line: with its .info beside it when it has one. */
function standaloneFile(input: string, formats: Format[]): ResolvedSource {
  const file = path.resolve(input);
  if (file.endsWith('.info')) {
    const reading = readInfoAt(file);
    if (!reading.ok) throw new KitError('INTEGRITY_FAILED', `${input} is not a usable backup .info file: ${reading.problem}.`);
    const dir = path.dirname(file);
    for (const format of formats) {
      const artifact = reading.info.artifacts.find((a) => a.format === format);
      if (artifact && path.basename(artifact.file) === artifact.file && existsSync(path.join(dir, artifact.file))) {
        return { file: path.join(dir, artifact.file), format, info: reading.info, artifact, id: reading.info.id, release: noRelease };
      }
    }
    throw new KitError('BACKUP_NOT_FOUND', `Backup ${reading.info.id} has no usable artifact for this restore (it lists ${reading.info.artifacts.map((a) => a.format).join(', ')}; needed one of ${formats.join(', ')}, present in ${dir}).`);
  }
  const stem = stemOf(path.basename(file));
  const reading = stem ? readInfoAt(path.join(path.dirname(file), `${stem}.info`)) : undefined;
  const info = reading?.ok ? reading.info : undefined;
  const artifact = info?.artifacts.find((a) => a.file === path.basename(file));
  if (artifact?.format === 'globals') {
    throw new KitError('USAGE', `${path.basename(file)} holds the roles of backup ${info!.id}, not a database. Restore the backup (${info!.id}) with --with-roles to create them.`);
  }
  const manifest = artifact ? undefined : manifestEntry(file, stem);
  return { file, format: artifact && isDumpFormat(artifact.format) ? artifact.format : 'sql', info: artifact ? info : undefined, artifact, id: info && artifact ? info.id : path.basename(file), release: noRelease, ...(manifest ? { manifest } : {}) };
}

/** The sha256 that `<stem>.sha256` or `<file>.sha256` (sha256sum's format) records for a file. */
export function manifestEntry(file: string, stem: string | undefined): { file: string; sha256: string } | undefined {
  const name = path.basename(file);
  for (const candidate of [stem ? path.join(path.dirname(file), `${stem}.sha256`) : undefined, `${file}.sha256`]) {
    if (!candidate || !existsSync(candidate)) continue;
    for (const line of readFileSync(candidate, 'utf8').split('\n')) {
      const m = /^([0-9a-fA-F]{64})(?:\s+\*?(.+))?$/.exec(line.trim());
      if (m && (m[2] === undefined || path.basename(m[2]) === name)) return { file: candidate, sha256: m[1]!.toLowerCase() };
    }
  }
  return undefined;
}

export interface IntegrityReport {
  source: RestoreSource;
  checksum: 'verified' | 'no metadata';
  /** Statistics to check the restored data against: from .info, else read from the file now. */
  stats: DumpStats | undefined;
  /** pg_restore --list of an archive. */
  toc: TocEntry[];
  pgRestore: LocatedTool | undefined;
  /** Sections in the script, for progress. */
  items: number;
}

export async function checkIntegrity(
  engine: Engine,
  resolved: Omit<RestoreSource, 'header'>,
  serverMajor: number,
  env: NodeJS.ProcessEnv,
  childEnvironment: NodeJS.ProcessEnv,
): Promise<IntegrityReport> {
  if (statSync(resolved.file).isDirectory()) {
    throw new KitError('USAGE', `${resolved.file} is a directory. Name a backup file (.dump, .tar, .sql, .sql.gz, or its .info), a backup id, or use --latest.`);
  }
  const facts = await inspectArchive(resolved.file);
  if (resolved.artifact && facts.format !== resolved.artifact.format) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(resolved.file)} should be a ${resolved.artifact.format} file according to its .info, but its content is ${facts.format}. Nothing was changed.`);
  }
  const source: RestoreSource = { ...resolved, format: facts.format, header: facts.header };
  if (!source.artifact && source.manifest) {
    const actual = await sha256File(source.file);
    if (actual.sha256 !== source.manifest.sha256) {
      throw new KitError('INTEGRITY_FAILED', `${path.basename(source.file)} does not match ${path.basename(source.manifest.file)}: recorded sha256 ${source.manifest.sha256.slice(0, 12)}…, found ${actual.sha256.slice(0, 12)}…. The file was damaged or changed; restore another copy. Nothing was changed.`);
    }
  }
  const vouched = source.artifact !== undefined || source.manifest !== undefined;
  const recorded = source.info && Object.keys(source.info.statistics.tables).length > 0 ? { tables: source.info.statistics.tables, sequences: source.info.statistics.sequences, complete: true, bytes: 0 } : undefined;

  // One hash per byte: none when the store proved the copy while writing it.
  const proven = source.proven === true;
  const checkSum = (actual: { sha256: string; bytes: number }) => {
    if (!source.artifact || proven) return;
    if (actual.bytes !== source.artifact.bytes || actual.sha256 !== source.artifact.sha256) {
      throw new KitError('INTEGRITY_FAILED', `${path.basename(source.file)} does not match its .info: recorded ${source.artifact.bytes} bytes with sha256 ${source.artifact.sha256.slice(0, 12)}…, found ${actual.bytes} bytes with ${actual.sha256.slice(0, 12)}…. The file was damaged or changed after the backup; restore another artifact of the same backup. Nothing was changed.`);
    }
  };
  const checkFile = async () => {
    if (source.artifact && !proven) checkSum(await sha256File(source.file));
  };

  if (source.format === 'sql' || source.format === 'sql.gz') {
    const read = await readScriptOnce(engine, source, proven, checkFile);
    checkSum(read);
    if (!read.stats.complete) throw new KitError('INTEGRITY_FAILED', `${path.basename(source.file)} is incomplete: ${engine.howScriptEnds(read.stats)}. Restore another artifact of the backup. Nothing was changed.`);
    return { source, checksum: vouched ? 'verified' : 'no metadata', stats: recorded ?? read.stats, toc: [], pgRestore: undefined, items: read.items };
  }

  // A file that changed since the backup is said so first: its header may be the damaged part.
  await checkFile();
  if (source.format === 'tar') {
    const problem = tarProblem(source.file);
    if (problem) throw new KitError('INTEGRITY_FAILED', `${path.basename(source.file)} is not a whole tar archive: ${problem}. Restore another artifact of the backup. Nothing was changed.`);
  }
  // pg_dump archives: the local pg_restore must know the archive's format version.
  const dumper = /^(\d+)/.exec(source.header?.pgDumpVersion ?? '')?.[1];
  const pgRestore = await engine.locateTool('pg_restore', Math.max(serverMajor, dumper ? Number(dumper) : 0), env).catch((error: unknown) => {
    if (error instanceof KitError && error.code === 'PG_DUMP_TOO_OLD') {
      throw new KitError('ARCHIVE_TOO_NEW', `${path.basename(source.file)} was written by pg_dump ${source.header?.pgDumpVersion ?? dumper}; ${error.message.replace(/^pg_restore /, 'the local pg_restore ')}`);
    }
    throw error;
  });
  if (source.header && !formatIsReadable(source.header.formatVersion, pgRestore.major)) {
    const version = source.header.formatVersion.join('.');
    const needed = pgRestoreNeededFor(source.header.formatVersion);
    throw new KitError('ARCHIVE_TOO_NEW', `${path.basename(source.file)} uses archive format ${version}${source.header.pgDumpVersion ? ` (pg_dump ${source.header.pgDumpVersion})` : ''}, which pg_restore ${pgRestore.version} cannot read. Install ${needed ? `postgresql-client-${needed} or newer` : 'a newer PostgreSQL client'}, or set PG_BIN to its bin directory. Nothing was changed.`);
  }
  const toc = await engine.readToc(pgRestore, source.file, childEnvironment);
  if (recorded) return { source, checksum: 'verified', stats: recorded, toc, pgRestore, items: toc.length };
  // No .info vouches for this archive (made elsewhere, or a dump-only backup): read it all.
  const read = await engine.readArchiveData(pgRestore, source.file, childEnvironment);
  if (!read.stats.complete) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(source.file)} ends early: pg_restore could not read it to its end. Nothing was changed.`);
  }
  return { source, checksum: vouched ? 'verified' : 'no metadata', stats: read.stats, toc, pgRestore, items: read.items };
}

/**
 * A script read once: hashed (unless proven), decompressed and lexed in the same pass. A .sql.gz
 * that fails to decompress or to lex is hashed alone afterwards, so that a file that changed
 * since the backup is said so first, as the more useful message.
 */
async function readScriptOnce(engine: Engine, source: RestoreSource, proven: boolean, checkFile: () => Promise<void>): ReturnType<Engine['readScript']> {
  try {
    return await engine.readScript(source.file, source.format === 'sql.gz', { hash: !proven });
  } catch (error) {
    if (source.format === 'sql.gz') await checkFile();
    throw error;
  }
}

/** A dump the restore can take (not the roles script, nor a table export's files). */
function isDumpFormat(format: string): format is Format {
  return (FORMATS as readonly string[]).includes(format);
}

