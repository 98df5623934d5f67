/**
 * What a backup file is, read from its content rather than its name: the format from its magic
 * bytes, and for pg_dump archives the header's format version and the pg_dump that wrote it.
 */
import { open } from 'node:fs/promises';
import { KitError } from '../errors.js';
import type { Format } from './naming.js';

export interface ArchiveHeader {
  /** Archive format version, e.g. [1, 14, 0]. */
  formatVersion: [number, number, number];
  /** The pg_dump that wrote it, e.g. "15.18 (Debian 15.18-0+deb12u1)", when recorded. */
  pgDumpVersion: string | undefined;
  /** The server it was dumped from. */
  serverVersion: string | undefined;
  databaseName: string | undefined;
}

export interface ArchiveFacts {
  format: Format;
  header: ArchiveHeader | undefined;
}

async function readHead(file: string, bytes: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The format of a backup file from its first bytes. */
export function detectFormat(head: Buffer): Format | undefined {
  if (head.subarray(0, 5).toString('latin1') === 'PGDMP') return 'dump';
  if (head.length > 262 && head.subarray(257, 262).toString('latin1') === 'ustar') return 'tar';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'sql.gz';
  const text = head.subarray(0, 512).toString('utf8');
  if (/^(--|SET |\\restrict |CREATE |BEGIN|SELECT )/m.test(text) && !text.includes('\0')) return 'sql';
  return undefined;
}

/**
 * Parse a custom-format header (also the start of a tar archive's toc.dat). Layout: "PGDMP",
 * major, minor, revision, int size, offset size, format; then the compression setting (one byte
 * from format 1.15, an int before); a creation time of seven ints; then three strings: database
 * name, server version and pg_dump version. An int is a sign byte then `intSize` bytes, low first.
 */
export function parseArchiveHeader(buf: Buffer): ArchiveHeader | undefined {
  if (buf.subarray(0, 5).toString('latin1') !== 'PGDMP' || buf.length < 11) return undefined;
  const version: [number, number, number] = [buf[5]!, buf[6]!, buf[7]!];
  const intSize = buf[8]!;
  let pos = 11;
  const readInt = (): number | undefined => {
    if (pos + 1 + intSize > buf.length || intSize > 8) return undefined;
    const negative = buf[pos] !== 0;
    let value = 0;
    for (let i = 0; i < intSize; i++) value += buf[pos + 1 + i]! * 2 ** (8 * i);
    pos += 1 + intSize;
    return negative ? -value : value;
  };
  const readStr = (): string | undefined => {
    const length = readInt();
    if (length === undefined || length < 0 || pos + length > buf.length) return undefined;
    const text = buf.subarray(pos, pos + length).toString('utf8');
    pos += length;
    return text;
  };
  const atLeast = (minor: number) => version[0] > 1 || (version[0] === 1 && version[1] >= minor);
  if (atLeast(15)) pos += 1;
  else readInt();
  for (let i = 0; i < 7; i++) readInt();
  const databaseName = readStr();
  const serverVersion = atLeast(10) ? readStr() : undefined;
  const pgDumpVersion = atLeast(10) ? readStr() : undefined;
  return { formatVersion: version, pgDumpVersion, serverVersion, databaseName };
}

export async function inspectArchive(file: string): Promise<ArchiveFacts> {
  const head = await readHead(file, 8192);
  const format = detectFormat(head);
  if (!format) {
    throw new KitError('INTEGRITY_FAILED', `${file} is not a PostgreSQL backup: it is neither a pg_dump archive (.dump, .tar) nor a SQL script (.sql, .sql.gz).`);
  }
  const header = format === 'dump' ? parseArchiveHeader(head) : format === 'tar' ? parseArchiveHeader(head.subarray(512)) : undefined;
  return { format, header };
}

/** The newest archive format version each pg_restore major version can read. */
export function newestReadableFormat(pgRestoreMajor: number): [number, number] {
  if (pgRestoreMajor >= 17) return [1, 16];
  if (pgRestoreMajor >= 16) return [1, 15];
  if (pgRestoreMajor >= 12) return [1, 14];
  return [1, 13];
}

/** The pg_restore major version needed for an archive format version, for the error message. */
export function pgRestoreNeededFor(format: [number, number, number]): number | undefined {
  const [major, minor] = format;
  if (major !== 1) return undefined;
  if (minor <= 14) return 12;
  if (minor === 15) return 16;
  if (minor === 16) return 17;
  return undefined;
}

export function formatIsReadable(format: [number, number, number], pgRestoreMajor: number): boolean {
  const [maxMajor, maxMinor] = newestReadableFormat(pgRestoreMajor);
  // pg_restore 18 and newer are trusted to know formats this table has not heard of yet
  if (pgRestoreMajor >= 18) return format[0] === 1;
  return format[0] < maxMajor || (format[0] === maxMajor && format[1] <= maxMinor);
}
