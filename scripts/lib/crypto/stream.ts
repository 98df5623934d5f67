/**
 * age as a stream stage, and decryption that never hands over a half-checked file.
 *
 * age authenticates its payload in 64 KiB chunks: damage late in a file is found only when that
 * chunk is reached. So a decrypted artifact is written to a private temporary file and given its
 * usable name only after age has exited 0 (every chunk, and the final one, authenticated) and,
 * when .info recorded it, the plaintext's sha256 matches. Nothing reads it before that.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { KitError } from '../errors.js';
import { spawnDecrypt, spawnEncrypt, type AgeProcess } from '../proc/age.js';
import type { IdentityFile } from './keys.js';

/** The file suffix of an encrypted artifact: backup_x.dump → backup_x.dump.age. */
export const AGE_SUFFIX = '.age';

/**
 * A Duplex around one age process: bytes written in come out transformed. It ends only after
 * age exited 0, so a pipeline through it cannot finish "successfully" on a failed age; and
 * destroying it kills age.
 */
export class AgeStage extends Duplex {
  private ended = false;

  constructor(private readonly age: AgeProcess) {
    super({ highWaterMark: 1 << 18 });
    age.output.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) age.output.pause();
    });
    age.output.once('end', () => {
      age.done.then(
        () => {
          this.ended = true;
          this.push(null);
        },
        (error: Error) => this.destroy(error),
      );
    });
    age.output.once('error', (error) => this.destroy(error));
    // age failing before its output ends (a bad identity, no such program) must surface at once.
    age.done.catch((error: Error) => {
      if (!this.ended) this.destroy(error);
    });
  }

  override _read(): void {
    this.age.output.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (this.age.input.write(chunk)) callback();
    else this.age.input.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.age.input.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.age.child.exitCode === null && this.age.child.signalCode === null) this.age.child.kill('SIGTERM');
    callback(error);
  }
}

/** A stage that encrypts to `recipients`; throws ENCRYPTION_UNAVAILABLE when age cannot run. */
export function encryptStage(recipients: string[], env: NodeJS.ProcessEnv): AgeStage {
  return new AgeStage(spawnEncrypt(recipients, env));
}

export function decryptStage(identity: IdentityFile, env: NodeJS.ProcessEnv, what: string): AgeStage {
  return new AgeStage(spawnDecrypt(identity.path, env, what));
}

export interface DecryptedFile {
  /** The plaintext, complete and authenticated, in a private directory. */
  path: string;
  sha256: string;
  bytes: number;
  /** Remove the plaintext (and its private directory). */
  dispose(): Promise<void>;
}

export interface DecryptOptions {
  /** The plaintext's file name (e.g. backup_x.dump). */
  name: string;
  /** How to name the artifact in messages. */
  what: string;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  /** Where the private directory is made (default: the system's temporary directory). */
  tmpRoot?: string;
  /** The plaintext's size and sha256 as .info recorded them, checked before the rename. */
  expected?: { sha256: string; bytes: number };
}

/** Decrypt `source` (a file, or a stream from a store) into a private file; see the top of this file. */
export async function decryptToPrivateFile(source: string | Readable, identity: IdentityFile, options: DecryptOptions): Promise<DecryptedFile> {
  const dir = await mkdtemp(path.join(options.tmpRoot ?? tmpdir(), 'pg-backup-kit-decrypt-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    await chmod(dir, 0o700);
    const partial = path.join(dir, `${options.name}.partial`);
    const file = createWriteStream(partial, { flags: 'wx', mode: 0o600 });
    const hash = createHash('sha256');
    let bytes = 0;
    const counter = new Writable({
      highWaterMark: 1 << 18,
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        bytes += chunk.length;
        file.write(chunk) ? callback() : file.once('drain', () => callback());
      },
      final(callback) {
        file.end(callback);
      },
    });
    file.on('error', (error) => counter.destroy(error));
    const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: 1 << 20 }) : source;
    const stage = decryptStage(identity, options.env, options.what);
    try {
      await pipeline(input, stage, counter, options.signal ? { signal: options.signal } : {});
    } catch (error) {
      file.destroy();
      if (options.signal?.aborted) throw new KitError('INTERRUPTED', 'Interrupted while decrypting. Nothing was changed.');
      throw error instanceof KitError ? error : new KitError('DECRYPTION_FAILED', `Decrypting ${options.what} failed: ${(error as Error).message}. Nothing was changed.`, { cause: error });
    }
    const sha256 = hash.digest('hex');
    if (options.expected && (options.expected.sha256 !== sha256 || options.expected.bytes !== bytes)) {
      throw new KitError('INTEGRITY_FAILED', `${options.what} decrypted to ${bytes} bytes with sha256 ${sha256.slice(0, 12)}…, but .info recorded ${options.expected.bytes} bytes with ${options.expected.sha256.slice(0, 12)}…. The backup was changed after it was taken; use another backup. Nothing was changed.`);
    }
    const final = path.join(dir, options.name);
    await rename(partial, final);
    return { path: final, sha256, bytes, dispose };
  } catch (error) {
    await dispose();
    throw error;
  }
}

/**
 * Authenticate an encrypted file end to end without keeping the plaintext: db:verify's trial
 * decryption. Returns the plaintext's size and sha256.
 */
export async function trialDecrypt(source: string | Readable, identity: IdentityFile, what: string, env: NodeJS.ProcessEnv, signal?: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const sink = new Writable({
    highWaterMark: 1 << 18,
    write(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback();
    },
  });
  const input = typeof source === 'string' ? createReadStream(source, { highWaterMark: 1 << 20 }) : source;
  try {
    await pipeline(input, decryptStage(identity, env, what), sink, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw new KitError('INTERRUPTED', 'Interrupted while decrypting.');
    throw error instanceof KitError ? error : new KitError('DECRYPTION_FAILED', `Decrypting ${what} failed: ${(error as Error).message}.`, { cause: error });
  }
  return { sha256: hash.digest('hex'), bytes };
}

/** Does this file begin like an age file? (Its header line is plain text.) */
export async function looksEncrypted(file: string): Promise<boolean> {
  const { open } = await import('node:fs/promises');
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const buf = Buffer.alloc(AGE_HEADER.length);
    // A directory opens but cannot be read: not age, and the restore's own checks say what it is.
    const read = await handle.read(buf, 0, buf.length, 0).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EISDIR') return undefined;
      throw error;
    });
    return read !== undefined && read.bytesRead === buf.length && buf.toString('latin1') === AGE_HEADER;
  } finally {
    await handle.close();
  }
}

const AGE_HEADER = 'age-encryption.org/v1\n';

/**
 * A small encrypted artifact (globals.sql) read whole into memory: the stored bytes are checked
 * against .info as they stream, and the plaintext is handed over only after age exited 0.
 */
export async function decryptSmall(source: Readable, identity: IdentityFile, what: string, env: NodeJS.ProcessEnv, limit = 64 << 20): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > limit) return callback(new KitError('INTEGRITY_FAILED', `${what} is larger than ${limit} bytes once decrypted; it is not what the kit wrote.`));
      chunks.push(chunk);
      callback();
    },
  });
  try {
    await pipeline(source, decryptStage(identity, env, what), sink);
  } catch (error) {
    throw error instanceof KitError ? error : new KitError('DECRYPTION_FAILED', `Decrypting ${what} failed: ${(error as Error).message}. Nothing was changed.`, { cause: error });
  }
  return Buffer.concat(chunks);
}
