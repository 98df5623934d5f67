/**
 * The same backup as kit-dump with a remote configured: s3rver on loopback, started once for the
 * run. The upload follows the dump as it is written, so the goal is at most 1.15x the local-only
 * backup. The server's own work (writing every byte to its disk) shares the machine's cores.
 */
import { rmSync } from 'node:fs';
import { registerCase } from '../registry.js';
import { REPO } from '../context.js';
import { startS3Server, type S3Server } from '../../test/support/s3-server.js';

let server: Promise<S3Server> | undefined;

function loopbackStore(): Promise<S3Server> {
  server ??= startS3Server('bench', REPO).then((s) => {
    // The kit reads credentials from its environment; the bench's kit runs inherit this one's.
    Object.assign(process.env, s.credentials);
    process.once('exit', () => {
      s.kill();
      rmSync(s.dir, { recursive: true, force: true });
    });
    return s;
  });
  return server;
}

registerCase((ctx) => ({
  id: 'kit-dump-remote',
  label: 'kit --format dump, uploaded',
  prepare: async () => void (await loopbackStore()),
  run: async (dir) => {
    const s3 = await loopbackStore();
    return ctx.kit(dir, ['pg-backup', '--format', 'dump', '--skip-space-check', '--remote', `s3://${s3.bucket}/run`, '--endpoint', s3.endpoint]);
  },
  target: { label: 'kit dump with a remote / without', against: 'kit-dump', max: 1.15 },
}));
