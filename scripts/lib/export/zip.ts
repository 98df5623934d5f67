/**
 * An export as one .zip (yazl to write, yauzl to read; ZIP64 is used by itself past 4 GB or
 * 65,534 entries). Written by streaming each finished file into the archive; read back entry by
 * entry, streaming, without extracting to disk.
 */
import { createReadStream } from 'node:fs';
import { finished, pipeline } from 'node:stream/promises';
import type { Readable, Writable } from 'node:stream';
import { digestTap } from '../crypto/digest.js';
import type yazlModule from 'yazl';
import type yauzlModule from 'yauzl';

// Loaded only by the runs that write or read a zip: every command that can see an export would
// otherwise pay for both libraries at start-up.
const yazlLibrary = async (): Promise<typeof yazlModule> => (await import('yazl')).default;
const yauzlLibrary = async (): Promise<typeof yauzlModule> => (await import('yauzl')).default;

/** Zip `files` (paths relative to `dir`) into `out`, in the given order; the zip's size and sha256. */
export async function zipDirectory(dir: string, files: string[], out: Writable): Promise<{ bytes: number; sha256: string }> {
  const yazl = await yazlLibrary();
  const zip = new yazl.ZipFile();
  for (const file of files) {
    zip.addReadStream(createReadStream(`${dir}/${file}`), file, { compress: true, compressionLevel: 6, mtime: new Date() });
  }
  zip.end();
  const tap = digestTap();
  await pipeline(zip.outputStream, tap.stream, out);
  return tap.digest();
}

/**
 * A zip written entry by entry from streams, for files that must never be on disk in plaintext
 * (an encrypted environment: `out` encrypts). Each entry is added when the one before it has
 * been read whole; `end()` finishes the archive.
 */
export class ZipWriter {
  private readonly written: Promise<{ bytes: number; sha256: string }>;

  static async create(out: Writable): Promise<ZipWriter> {
    return new ZipWriter(new (await yazlLibrary()).ZipFile(), out);
  }

  private constructor(
    private readonly zip: yazlModule.ZipFile,
    out: Writable,
  ) {
    const tap = digestTap();
    this.written = pipeline(this.zip.outputStream, tap.stream, out).then(() => tap.digest());
    this.written.catch(() => undefined);
  }

  /** Resolves once the archive has read the whole stream (rejects if the archive failed meanwhile). */
  add(name: string, stream: Readable): Promise<void> {
    this.zip.addReadStream(stream, name, { compress: true, compressionLevel: 6, mtime: new Date() });
    const ended = this.written.then(() => {
      throw new Error(`the zip ended before ${name} was read`);
    });
    ended.catch(() => undefined);
    return Promise.race([finished(stream), ended]);
  }

  addText(name: string, text: string): void {
    this.zip.addBuffer(Buffer.from(text), name, { compress: true, compressionLevel: 6, mtime: new Date() });
  }

  /** The last entry is in: the archive's size and sha256 once it is written. */
  end(): Promise<{ bytes: number; sha256: string }> {
    this.zip.end();
    return this.written;
  }

  /** Stop writing: the output is destroyed (an encrypting stream stops its age). */
  abort(): void {
    (this.zip.outputStream as unknown as Readable).destroy(new Error('export stopped'));
  }
}

export interface ZipReader {
  names(): string[];
  open(name: string): Promise<Readable>;
  close(): void;
}

export async function openZip(file: string): Promise<ZipReader> {
  const yauzl = await yauzlLibrary();
  const zip = await new Promise<yauzlModule.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true }, (error, z) => (error ? reject(error) : resolve(z))),
  );
  const entries = new Map<string, yauzlModule.Entry>();
  for await (const entry of zip.eachEntry()) entries.set(entry.fileName, entry);
  return {
    names: () => [...entries.keys()],
    async open(name) {
      const entry = entries.get(name);
      if (!entry) throw new Error(`${name} is not in ${file}`);
      return zip.openReadStreamPromise(entry);
    },
    close: () => zip.close(),
  };
}
