/**
 * An export as one .zip (yazl to write, yauzl to read; ZIP64 is used by itself past 4 GB or
 * 65,534 entries). Written by streaming each finished file into the archive; read back entry by
 * entry, streaming, without extracting to disk.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import yazl from 'yazl';
import yauzl from 'yauzl';

/** Zip `files` (paths relative to `dir`) into `out`, in the given order. */
export async function zipDirectory(dir: string, files: string[], out: string): Promise<void> {
  const zip = new yazl.ZipFile();
  for (const file of files) {
    zip.addReadStream(createReadStream(`${dir}/${file}`), file, { compress: true, compressionLevel: 6, mtime: new Date() });
  }
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(out, { mode: 0o600 }));
}

export interface ZipReader {
  names(): string[];
  open(name: string): Promise<Readable>;
  close(): void;
}

export async function openZip(file: string): Promise<ZipReader> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false, strictFileNames: true, validateEntrySizes: true }, (error, z) => (error ? reject(error) : resolve(z))),
  );
  const entries = new Map<string, yauzl.Entry>();
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
