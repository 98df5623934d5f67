/**
 * An export to import: a directory or a .zip, given as a path or by its id in the environment's
 * backup directory. Every file it lists must be there before anything starts; each file's sha256
 * is checked as it streams (and the import commits only if all matched).
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { KitError } from '../errors.js';
import { exportFiles, readExportMetadata, type ExportMetadata } from '../format/export-metadata.js';
import { openZip } from './zip.js';

export interface ExportSource {
  location: string;
  kind: 'directory' | 'zip';
  metadata: ExportMetadata;
  open(file: string): Promise<Readable>;
  close(): void;
}

function locate(input: string, cwd: string, envDir: string): string {
  for (const candidate of [path.resolve(cwd, input), path.join(envDir, input), path.join(envDir, `${input}.zip`)]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new KitError('BACKUP_NOT_FOUND', `No export at ${input} (looked in the current directory and in ${envDir}). Give an export directory, its .zip, or its id as db:list shows it.`);
}

function notAnExport(where: string, why: string): KitError {
  return new KitError('EXPORT_DAMAGED', `${where} is not a complete export: ${why}. Take a new export, or restore a copy of this one.`);
}

function listedFiles(metadata: ExportMetadata): string[] {
  return exportFiles(metadata).map((f) => f.file);
}

export async function openExport(input: string, cwd: string, envDir: string): Promise<ExportSource> {
  const location = locate(input, cwd, envDir);
  if (statSync(location).isDirectory()) {
    const metaFile = path.join(location, 'metadata.json');
    if (!existsSync(metaFile)) throw notAnExport(location, 'it has no metadata.json (an export is complete only when metadata.json is written)');
    const metadata = readExportMetadata(await readFile(metaFile, 'utf8'));
    if (!metadata) throw notAnExport(location, 'its metadata.json cannot be read');
    const missing = listedFiles(metadata).filter((f) => !existsSync(path.join(location, f)));
    if (missing.length) throw notAnExport(location, `files listed in metadata.json are missing: ${missing.join(', ')}`);
    return {
      location,
      kind: 'directory',
      metadata,
      open: async (file) => createReadStream(path.join(location, file), { highWaterMark: 1 << 18 }),
      close: () => undefined,
    };
  }
  let zip;
  try {
    zip = await openZip(location);
  } catch (error) {
    throw notAnExport(location, `it cannot be read as a zip (${(error as Error).message})`);
  }
  try {
    if (!zip.names().includes('metadata.json')) throw notAnExport(location, 'it holds no metadata.json');
    const chunks: Buffer[] = [];
    for await (const chunk of await zip.open('metadata.json')) chunks.push(chunk as Buffer);
    const metadata = readExportMetadata(Buffer.concat(chunks).toString('utf8'));
    if (!metadata) throw notAnExport(location, 'its metadata.json cannot be read');
    const missing = listedFiles(metadata).filter((f) => !zip.names().includes(f));
    if (missing.length) throw notAnExport(location, `files listed in metadata.json are missing: ${missing.join(', ')}`);
    return { location, kind: 'zip', metadata, open: (file) => zip.open(file), close: () => zip.close() };
  } catch (error) {
    zip.close();
    throw error;
  }
}

/** Every file an export lists, read through and compared with metadata.json; returns how many. */
export async function checkExportFiles(location: string): Promise<number> {
  const source = await openExport(location, path.dirname(location), path.dirname(location));
  try {
    const meta = source.metadata;
    const files = exportFiles(meta);
    for (const expected of files) {
      const hash = createHash('sha256');
      let bytes = 0;
      for await (const chunk of (await source.open(expected.file)) as AsyncIterable<Buffer>) {
        hash.update(chunk);
        bytes += chunk.length;
      }
      if (bytes !== expected.bytes || hash.digest('hex') !== expected.sha256) {
        throw new KitError('EXPORT_DAMAGED', `${expected.file} inside ${path.basename(location)} differs from what metadata.json recorded (size or sha256).`);
      }
    }
    return files.length;
  } finally {
    source.close();
  }
}
