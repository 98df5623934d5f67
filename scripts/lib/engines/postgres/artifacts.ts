/**
 * PostgreSQL's artifacts read back: an archive's table of contents (pg_restore --list), a plain
 * or gzipped script read once for its checksum, trailer and statistics, an archive decoded to the
 * end, and why a script is not whole. Restore's integrity check and verify both read through here.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { KitError } from '../../errors.js';
import type { BackupInfo, ArtifactInfo } from '../../format/metadata.js';
import type { Format } from '../../format/naming.js';
import type { ArchiveHeader } from '../../format/archive.js';
import { formatBytes } from '../../text/units.js';
import { DumpStatsCollector, statsFromProcess, type DumpStats } from './dump-stats.js';
import { spawnTool, type LocatedTool } from './tools.js';
import { ScriptGuard } from './script.js';
import { traceHashPass } from '../../proc/trace.js';

/** One artifact to apply: the file, its format, and what the kit knows of it. */
export interface RestoreSource {
  file: string;
  format: Format;
  /** The backup's metadata, when the file belongs to a backup made by this kit. */
  info: BackupInfo | undefined;
  artifact: ArtifactInfo | undefined;
  id: string;
  header: ArchiveHeader | undefined;
  /** For a file without .info: the sha256 an adjacent .sha256 file records for it. */
  manifest?: { file: string; sha256: string };
  /** The file's bytes were proven against `artifact` as they were written here: not hashed again. */
  proven?: boolean;
}

export interface TocEntry {
  /** The entry's dump id: what a `pg_restore --use-list` file names. */
  id: number;
  desc: string;
  namespace: string;
  tag: string;
  owner: string;
}

const MULTI_WORD_DESCS = [
  'MATERIALIZED VIEW DATA', 'PUBLICATION TABLES IN SCHEMA', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY',
  'TEXT SEARCH TEMPLATE', 'TEXT SEARCH PARSER', 'FOREIGN DATA WRAPPER', 'DATABASE PROPERTIES', 'MATERIALIZED VIEW',
  'PUBLICATION TABLE', 'SEQUENCE OWNED BY', 'CHECK CONSTRAINT', 'OPERATOR FAMILY', 'OPERATOR CLASS', 'FOREIGN SERVER',
  'FOREIGN TABLE', 'SEQUENCE SET', 'EVENT TRIGGER', 'ACCESS METHOD', 'FK CONSTRAINT', 'LARGE OBJECTS', 'LARGE OBJECT',
  'USER MAPPING', 'ROW SECURITY', 'DEFAULT ACL', 'TABLE DATA', 'BLOB DATA',
];

/** "3370; 0 16590 TABLE DATA public users postgres" → its parts. Pure. */
export function parseTocLine(line: string): TocEntry | undefined {
  const match = /^(\d+); \d+ \d+ (.+)$/.exec(line);
  if (!match?.[2]) return undefined;
  let rest = match[2];
  const desc = MULTI_WORD_DESCS.find((d) => rest.startsWith(`${d} `)) ?? rest.split(' ')[0]!;
  rest = rest.slice(desc.length + 1);
  const words = rest.split(' ');
  const namespace = words.shift() ?? '-';
  const owner = words.length > 1 ? words.pop()! : '';
  return { id: Number(match[1]), desc, namespace, tag: words.join(' '), owner };
}

export async function readToc(pgRestore: LocatedTool, file: string, env: NodeJS.ProcessEnv): Promise<TocEntry[]> {
  const tool = spawnTool(pgRestore, ['--list', file], { env, failure: 'INTEGRITY_FAILED' });
  let text = '';
  tool.child.stdout!.on('data', (c: Buffer) => (text += c.toString()));
  try {
    await tool.done;
  } catch (error) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} cannot be read as an archive: ${(error as KitError).message.replace(/^pg_restore exited with status \d+: /, '')}. Nothing was changed.`);
  }
  return text.split('\n').map(parseTocLine).filter((e): e is TocEntry => e !== undefined);
}

/**
 * Read a whole SQL or gzipped SQL file once: its checksum, trailer and statistics. `hash: false`
 * for a file already proven against its .info (sha256 is then empty).
 */
export async function readScript(file: string, gzipped: boolean, options: { hash?: boolean } = {}): Promise<{ sha256: string; bytes: number; stats: DumpStats; items: number }> {
  const hashing = options.hash !== false;
  if (hashing) traceHashPass(file);
  const hash = createHash('sha256');
  let bytes = 0;
  // What the restore would refuse (a meta-command, a COMMIT of its own) is found here, before anything changes.
  const guard = new ScriptGuard({ dropOwnership: false, dropPrivileges: false });
  const collector = new DumpStatsCollector({ statement: (s) => guard.statement(s), metaCommand: (m) => guard.metaCommand(m) });
  const raw = createReadStream(file, { highWaterMark: 1 << 18 });
  raw.on('data', (c) => {
    if (hashing) hash.update(c as Buffer);
    bytes += (c as Buffer).length;
  });
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      try {
        collector.push(chunk);
        cb();
      } catch (error) {
        cb(error as Error);
      }
    },
  });
  try {
    if (gzipped) await pipeline(raw, createGunzip(), sink);
    else await pipeline(raw, sink);
  } catch (error) {
    if (error instanceof KitError) throw error;
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} does not decompress: ${(error as Error).message}. The file is damaged; restore another artifact of the backup. Nothing was changed.`);
  }
  return { sha256: hashing ? hash.digest('hex') : '', bytes, stats: collector.finish(), items: collector.items };
}

/** Decode an archive completely (no .info to vouch for it): statistics and a proof it reads. */
export async function readArchiveData(pgRestore: LocatedTool, file: string, env: NodeJS.ProcessEnv): Promise<{ stats: DumpStats; items: number }> {
  try {
    return await statsFromProcess(spawnTool(pgRestore, ['--file=-', file], { env, failure: 'INTEGRITY_FAILED' }));
  } catch (error) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} is damaged: ${(error as KitError).message.replace(/^pg_restore exited with status \d+: /, '')}. Nothing was changed.`);
  }
}

/** Why a script is not whole, in words: where it stopped, not a guess. */
export function howScriptEnds(stats: Pick<DumpStats, 'bytes' | 'ending'>): string {
  const size = formatBytes(stats.bytes);
  switch (stats.ending?.inside) {
    case 'statement': {
      const from = stats.ending.from ?? 0;
      return `its last ${formatBytes(stats.bytes - from)} (from byte ${from} of ${size} of SQL) are a statement, string or comment that never ends, so it was cut short or was not written by pg_dump`;
    }
    case 'copy data':
      return `it stops inside a table's rows (${size} of SQL), so it was cut short`;
    default:
      return `every statement in its ${size} of SQL ends, but pg_dump's completion trailer ("-- PostgreSQL database dump complete") is missing, so it was cut short between statements or was not written by pg_dump`;
  }
}
