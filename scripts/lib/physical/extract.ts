/**
 * Unpack a physical backup into a data directory: each tar is hashed while tar reads it, so the
 * archive is read once and a damaged file fails the restore (the directory is then removed).
 */
import { createReadStream } from 'node:fs';
import { KitError } from '../errors.js';
import { digestTap } from '../crypto/digest.js';
import { locateSystemProgram, runProgramWithInput } from '../proc/programs.js';
import type { Compression, PhysicalArtifact } from './info.js';

export function compressionOfFile(file: string): Compression {
  if (file.endsWith('.lz4')) return 'lz4';
  if (file.endsWith('.zst')) return 'zstd';
  if (file.endsWith('.gz')) return 'gzip';
  return 'none';
}

export function tarArgs(compression: Compression, dest: string): string[] {
  const filter = compression === 'lz4' ? ['--use-compress-program=lz4'] : compression === 'zstd' ? ['--zstd'] : compression === 'gzip' ? ['--gzip'] : [];
  // --no-same-owner: files belong to the restoring user first; ownership is set for the server after.
  return ['-x', ...filter, '--no-same-owner', '-f', '-', '-C', dest];
}

export async function extractArtifact(file: string, artifact: PhysicalArtifact, dest: string, signal: AbortSignal): Promise<void> {
  const compression = compressionOfFile(artifact.file);
  if (compression === 'lz4') await locateSystemProgram('lz4', 'lz4');
  if (compression === 'zstd') await locateSystemProgram('zstd', 'zstd');
  const tar = await locateSystemProgram('tar', 'tar');
  const tap = digestTap(1 << 20);
  const hashing = tap.stream;
  const source = createReadStream(file, { highWaterMark: 1 << 20 });
  // A read error must fail the run, not end the stream early: hand it on to the hashing stage.
  source.once('error', (error) => hashing.destroy(error));
  try {
    await runProgramWithInput(tar, tarArgs(compression, dest), source.pipe(hashing), { signal, failure: 'INTEGRITY_FAILED' });
  } catch (error) {
    if (error instanceof KitError && error.code === 'INTERRUPTED') throw error;
    throw new KitError('INTEGRITY_FAILED', `${artifact.file} could not be unpacked: ${(error as Error).message}. The backup is damaged; restore another one.`, { cause: error });
  }
  const { sha256, bytes } = tap.digest();
  if (sha256 !== artifact.sha256 || bytes !== artifact.bytes) {
    throw new KitError('INTEGRITY_FAILED', `${artifact.file} does not match its .info (sha256 ${sha256.slice(0, 12)}…, expected ${artifact.sha256.slice(0, 12)}…). The backup is damaged; restore another one.`);
  }
}
