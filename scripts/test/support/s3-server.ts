/**
 * The loopback object store integration tests run against: s3rver in a child process, with its
 * data on disk so it can be killed (a real fault) and started again on the same port with the
 * same contents. It checks request signatures against its one account, S3RVER/S3RVER, so wrong
 * credentials fail as they would at a provider.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

export const S3_ACCESS_KEY = 'S3RVER';
export const S3_SECRET_KEY = 'S3RVER';

export interface S3Server {
  endpoint: string;
  port: number;
  dir: string;
  bucket: string;
  /** The process environment a user would set for the kit. */
  credentials: NodeJS.ProcessEnv;
  /** kill -9: the store vanishes mid-request. */
  kill(): void;
  /** Start again on the same port and directory. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The server's entry file; `root` is the repository (the bench runs from a bundle elsewhere). */
function mainFile(root?: string): string {
  return root ? path.join(root, 'scripts/test/support/s3-server-main.cjs') : path.join(import.meta.dirname, 's3-server-main.cjs');
}

function launch(dir: string, port: number, buckets: string[], root?: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [mainFile(root), dir, String(port), ...buckets], {
    // s3rver's list continuation tokens use a cipher Node ≥ 17 keeps behind the legacy provider.
    env: { PATH: process.env.PATH, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve({ child, port: (JSON.parse(line) as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`s3rver exited ${code}: ${stderr}`)));
  });
}

export async function startS3Server(bucket = 'kit-backups', root?: string): Promise<S3Server> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-s3-'));
  let { child, port } = await launch(dir, 0, [bucket], root);
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    dir,
    bucket,
    credentials: { AWS_ACCESS_KEY_ID: S3_ACCESS_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET_KEY, AWS_REGION: 'us-east-1' },
    kill() {
      child.kill('SIGKILL');
    },
    async restart() {
      ({ child } = await launch(dir, port, [], root));
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
