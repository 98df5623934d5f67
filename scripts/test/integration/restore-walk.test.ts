/**
 * Issue 21.6, pinned: `db:restore -- --latest --from-remote` resolves once. Under KIT_TRACE the
 * kit reports what it did; a remote restore hashes each downloaded artifact once (the download
 * proves it against .info, the integrity check does not hash it again, a .sql.gz decompresses in
 * the same pass), probes each tool once, and holds one connection to the server, reused for the
 * leftovers check, the pre-checks, the roles, the progress and the ANALYZE. Against s3rver on
 * loopback, a real S3-compatible server.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { parseTrace } from '../../lib/proc/trace.js';
import { fingerprint } from '../support/backups.js';
import { backupDir, cli, createDatabase, makeProject } from '../support/harness.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';

let server: S3Server;

beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
});

const ROWS = 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g';

describe('the remote restore walk', () => {
  it.each([
    ['dump', ['pg_restore', 'psql']],
    ['sql.gz', ['psql']],
  ])('a %s from the bucket: one hash pass per artifact, one probe per tool, one connection', async (format, tools) => {
    const source = await createDatabase({ sql: ROWS });
    const dir = makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${server.bucket}/walk-${format}`, endpoint: server.endpoint } }) });
    const backup = await cli('pg-backup', ['--format', format, '--json'], { cwd: dir, env: { DATABASE_URL: source.url, ...server.credentials } });
    expect(backup.code, backup.stderr).toBe(0);
    const { id } = backup.json<BackupResult>();
    rmSync(backupDir(dir), { recursive: true, force: true });

    const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const env = { ...server.credentials, DATABASE_URL: target.url, KIT_TRACE: '1' };
    const run = await cli('pg-restore', ['--latest', '--from-remote', '--force', '--no-safety-backup', '--with-roles'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));

    const trace = parseTrace(run.stderr);
    expect(trace, run.stderr).toBeDefined();
    expect(trace!.hashPasses).toEqual({ [`${id}.${format}`]: 1, [`${id}.globals.sql`]: 1 });
    expect(Object.keys(trace!.probes).map((p) => path.basename(p)).sort()).toEqual(tools);
    expect(Object.values(trace!.probes)).toEqual(tools.map(() => 1));
    expect(trace!.connections).toEqual({ [target.name]: 1 });
    // The trace says counts and names, never a secret.
    expect(run.stderr).not.toContain(server.credentials.AWS_SECRET_ACCESS_KEY! + '"');
  }, 180_000);

  it('with the safety backup: the backup takes its own connection, the restore still one', async () => {
    const source = await createDatabase({ sql: ROWS });
    const dir = makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${server.bucket}/walk-safety`, endpoint: server.endpoint } }) });
    expect((await cli('pg-backup', ['--format', 'dump', '--json'], { cwd: dir, env: { DATABASE_URL: source.url, ...server.credentials } })).code).toBe(0);
    const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const run = await cli('pg-restore', ['--latest', '--from-remote', '--force'], { cwd: dir, env: { ...server.credentials, DATABASE_URL: target.url, KIT_TRACE: '1' } });
    expect(run.code, run.stderr).toBe(0);
    const trace = parseTrace(run.stderr)!;
    expect(trace.connections).toEqual({ [target.name]: 2 });
    expect(Math.max(...Object.values(trace.probes))).toBe(1);
  }, 180_000);
});
