/**
 * Reading a remote artifact and proving it: every byte is hashed as it arrives and the size and
 * sha256 must equal what the backup's .info recorded. A download lands in a private partial file
 * that gets its final name only once proven, so nothing downstream ever reads unchecked bytes.
 */
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../../errors.js';
import { digestTap } from '../../crypto/digest.js';
import { commitFile, FILE_MODE, PARTIAL_SUFFIX } from '../files.js';
import { traceHashPass } from '../../proc/trace.js';
import type { ObjectStore } from '../drivers/object-store.js';

export interface Expected {
  bytes: number;
  sha256: string;
  /** Where the expected size and sum were recorded, for messages (default: the backup's .info). */
  recordedIn?: string;
}

export interface Checked {
  bytes: number;
  sha256: string;
}

async function streamThrough(bucket: ObjectStore, name: string, sink: Writable, signal?: AbortSignal): Promise<Checked> {
  const body = await bucket.getStream(name, signal);
  if (!body) throw new KitError('BACKUP_NOT_FOUND', `${name} is missing from ${bucket.url} although the backup's .info lists it. The remote copy is incomplete: take a new backup, or restore another one.`);
  traceHashPass(name);
  const tap = digestTap();
  try {
    await pipeline(body, tap.stream, sink, { signal });
  } catch (error) {
    if (error instanceof KitError || (error as { code?: string }).code === 'ABORT_ERR') throw error;
    if ((error as { syscall?: string }).syscall === 'write') throw error;
    throw bucket.failure(error, `downloading ${name}`, name);
  }
  return tap.digest();
}

export function mismatch(name: string, expected: Expected, got: Checked, where: string): KitError | undefined {
  const recorded = expected.recordedIn ?? 'its .info';
  if (got.bytes !== expected.bytes) return new KitError('INTEGRITY_FAILED', `${name} in ${where} has ${got.bytes} bytes where ${recorded} records ${expected.bytes}: the remote copy is damaged. Nothing was changed; use another backup or the local copy.`);
  if (got.sha256 !== expected.sha256) return new KitError('INTEGRITY_FAILED', `${name} in ${where} does not match the sha256 ${recorded} records (${got.sha256.slice(0, 12)}… instead of ${expected.sha256.slice(0, 12)}…): the remote copy is damaged. Nothing was changed; use another backup or the local copy.`);
  return undefined;
}

/** Stream an object through sha256 without keeping it: db:verify on a remote backup. */
export async function checkRemoteObject(bucket: ObjectStore, name: string, expected: Expected, signal?: AbortSignal): Promise<Checked> {
  const discard = new Writable({ highWaterMark: 1 << 18, write: (_chunk, _encoding, callback) => callback() });
  const got = await streamThrough(bucket, name, discard, signal);
  const problem = mismatch(name, expected, got, bucket.url);
  if (problem) throw problem;
  return got;
}

/** Download to `file` (private, via a partial name); proven before it gets its name. */
export async function downloadVerified(bucket: ObjectStore, name: string, file: string, expected: Expected, signal?: AbortSignal): Promise<Checked> {
  const partial = file + PARTIAL_SUFFIX;
  try {
    const got = await streamThrough(bucket, name, createWriteStream(partial, { mode: FILE_MODE, highWaterMark: 1 << 18 }), signal);
    const problem = mismatch(name, expected, got, bucket.url);
    if (problem) throw problem;
    await commitFile(partial, file);
    return got;
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}
