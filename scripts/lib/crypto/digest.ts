/** A stream stage that passes every byte on unchanged while counting it and taking its sha256. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export interface Digest {
  bytes: number;
  sha256: string;
}

export interface DigestTap {
  /** Put it in a pipeline; the bytes flow through untouched. */
  stream: Transform;
  /** The size and sha256 of what went through; call it once the pipeline has finished. */
  digest(): Digest;
}

export function digestTap(highWaterMark = 1 << 18): DigestTap {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    highWaterMark,
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      bytes += chunk.length;
      callback(null, chunk);
    },
  });
  let done: Digest | undefined;
  return { stream, digest: () => (done ??= { bytes, sha256: hash.digest('hex') }) };
}
