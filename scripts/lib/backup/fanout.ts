/**
 * One readable stream feeding several writables at the pace of the slowest: how the single plain
 * pg_dump stream becomes .sql, .sql.gz and statistics at once without buffering it in memory.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, Writable, type TransformCallback } from 'node:stream';

export class Fanout extends Writable {
  constructor(
    private readonly sinks: Writable[],
    private readonly observe: (chunk: Buffer) => void,
    /** Settles when every sink has flushed everything (their pipelines finished). */
    private readonly flushed: () => Promise<unknown>,
  ) {
    super({ highWaterMark: 1 << 18 });
    for (const sink of sinks) sink.once('error', (error) => this.destroy(error));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.observe(chunk);
    let waiting = 0;
    const drained = () => {
      if (--waiting === 0) callback();
    };
    for (const sink of this.sinks) {
      if (!sink.write(chunk)) {
        waiting++;
        sink.once('drain', drained);
      }
    }
    if (waiting === 0) callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    for (const sink of this.sinks) sink.end();
    this.flushed().then(
      () => callback(),
      (error: Error) => callback(error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const sink of this.sinks) sink.destroy(error ?? undefined);
    callback(error);
  }
}

/** Passes bytes through unchanged while hashing and counting them, keeping the first 512 (headers). */
export class HashTap extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;
  head: Buffer = Buffer.alloc(0);

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    if (this.head.length < 512) this.head = Buffer.concat([this.head, chunk.subarray(0, 512 - this.head.length)]);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  digest(): string {
    return this.hash.digest('hex');
  }
}
