/**
 * Offsite copies, as a user meets them: db:backup uploads while it dumps, the local directory is
 * lost, and list, verify --deep and restore --from-remote work from the bucket alone; standard
 * tools check a remote backup without the kit; the store killed mid-upload; push, pull and
 * retention on both places. Against s3rver on loopback, a real S3-compatible server.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import type { ListResult } from '../../lib/commands/list.js';
import { resolveRemote } from '../../lib/config/remote.js';
import { RemoteBucket } from '../../lib/store/drivers/s3/objects.js';
import { fingerprint } from '../support/backups.js';
import { backupDir, cli, createDatabase, makeProject, query, readInfo, startCli } from '../support/harness.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';
import { runPrinted } from '../support/printed.js';

let server: S3Server;

beforeAll(async () => {
  server = await startS3Server();
});
afterAll(async () => {
  await server?.stop();
});

function project(prefix: string, extra: Record<string, unknown> = {}): string {
  return makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${server.bucket}/${prefix}`, endpoint: server.endpoint, ...extra } }) });
}

function bucketFor(prefix: string, env = 'default'): RemoteBucket {
  return new RemoteBucket(resolveRemote({ root: mkdtempSync(path.join(tmpdir(), 'pgkit-b-')), env, processEnv: server.credentials, remote: `s3://${server.bucket}/${prefix}`, endpoint: server.endpoint })!);
}

async function remoteNames(prefix: string): Promise<string[]> {
  const bucket = bucketFor(prefix);
  try {
    return (await bucket.list()).map((o) => o.name).sort();
  } finally {
    bucket.close();
  }
}

describe('offsite copies', () => {
  it('backs up to the bucket; with the local copy gone, lists, verifies deep and restores from it alone', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const dir = project('story');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const run = await cli('pg-backup', ['--json'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const backup = run.json<BackupResult>();
    const info = readInfo(dir, backup.id);
    expect(info.copies).toEqual({ local: backupDir(dir), remote: `s3://${server.bucket}/story/default/${backup.id}.info` });
    expect(await remoteNames('story')).toEqual([...info.artifacts.map((a) => a.file), `${backup.id}.info`, `${backup.id}.sha256`].sort());
    // Secrets never reach output or metadata.
    expect(run.stdout + run.stderr + readFileSync(path.join(backupDir(dir), `${backup.id}.info`), 'utf8')).not.toContain(server.credentials.AWS_SECRET_ACCESS_KEY + '"');

    rmSync(backupDir(dir), { recursive: true, force: true });
    const list = await cli('list', ['--json'], { cwd: dir, env });
    expect(list.code, list.stderr).toBe(0);
    expect(list.json<ListResult>().backups.map((b) => [b.id, b.store])).toEqual([[backup.id, 'remote']]);

    const verify = await cli('verify', [backup.id, '--deep', '--json'], { cwd: dir, env });
    expect(verify.code, verify.stderr + verify.stdout).toBe(0);

    const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const restore = await cli('pg-restore', ['--latest', '--from-remote', '--force'], { cwd: dir, env: { ...server.credentials, DATABASE_URL: target.url } });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
    // The temporary download is gone.
    expect(readdirSync(backupDir(dir)).filter((f) => f.startsWith('.download-'))).toEqual([]);
    // A backup, a deep verify and a restore of the awkward database: room for a loaded machine.
  }, 240_000);

  it('refuses a remote object with one flipped byte before the target is touched', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g' });
    const dir = project('flip');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const backup = (await cli('pg-backup', ['--json', '--format', 'dump'], { cwd: dir, env })).json<BackupResult>();
    const bucket = bucketFor('flip');
    const name = `${backup.id}.dump`;
    const bytes = Buffer.from(await (await bucket.getStream(name))!.toArray().then((c) => Buffer.concat(c as Buffer[])));
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await bucket.putSmall(name, bytes);
    bucket.close();
    const target = await createDatabase({ sql: 'CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (7)' });
    const restore = await cli('pg-restore', [backup.id, '--from-remote', '--force'], { cwd: dir, env: { ...server.credentials, DATABASE_URL: target.url } });
    expect(restore.code, restore.stderr).toBe(12);
    expect(restore.stderr).toMatch(/does not match the sha256 its \.info records/);
    expect(await query(target.url, 'SELECT x FROM keep_me')).toEqual([{ x: 7 }]);
    const verify = await cli('verify', [backup.id, '--from-remote'], { cwd: dir, env });
    expect(verify.code).toBe(12);
  });

  it('lets a standard S3 client and sha256sum -c check a remote backup without the kit', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)' });
    const dir = project('tools');
    const backup = (await cli('pg-backup', ['--json', '--remote-only'], { cwd: dir, env: { DATABASE_URL: source.url, ...server.credentials } })).json<BackupResult>();
    expect(readdirSync(backupDir(dir)).filter((f) => f.startsWith('backup_'))).toEqual([]);
    const out = mkdtempSync(path.join(tmpdir(), 'pgkit-s3cmd-'));
    const config = path.join(out, 's3cfg');
    writeFileSync(config, '');
    const host = new URL(server.endpoint).host;
    const s3cmd = (...args: string[]) => execFileSync('s3cmd', ['--config', config, '--host', host, '--host-bucket', host, '--no-ssl', ...args], { env: { PATH: process.env.PATH, HOME: out, AWS_ACCESS_KEY: server.credentials.AWS_ACCESS_KEY_ID, AWS_SECRET_KEY: server.credentials.AWS_SECRET_ACCESS_KEY }, encoding: 'utf8' });
    s3cmd('get', '--recursive', `s3://${server.bucket}/tools/default/`, `${out}/`);
    expect(execFileSync('sha256sum', ['-c', `${backup.id}.sha256`], { cwd: out, encoding: 'utf8' })).toMatch(/: OK\n.*: OK\n.*: OK\n.*: OK\n/);
  });

  it('keeps a complete local backup and exits 20 when the store is killed mid-upload; db:push then finishes the job', async () => {
    const source = await createDatabase({ sql: "CREATE TABLE big (id int, v text); INSERT INTO big SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 160000) g" });
    const dir = project('killed');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const journal = path.join(backupDir(dir), '.remote-uploads.json');
    const { result } = startCli('pg-backup', ['--json', '--format', 'sql,dump'], { cwd: dir, env });
    for (let i = 0; i < 4000 && !(existsSync(journal) && readFileSync(journal, 'utf8').includes('uploadId')); i++) await new Promise((r) => setTimeout(r, 5));
    server.kill();
    const run = await result;
    await server.restart();
    expect(run.code, run.stderr).toBe(20);
    expect(run.stderr).toMatch(/is complete on this machine .* its upload to s3:\/\/.* failed: .*pnpm db:push/s);
    const failed = run.json<{ ok: boolean; error: { code: string } }>();
    expect(failed.error.code).toBe('REMOTE_UNREACHABLE');
    // The local copy is complete and checks out.
    const id = readdirSync(backupDir(dir)).find((f) => f.endsWith('.info'))!.replace(/\.info$/, '');
    expect(execFileSync('sha256sum', ['-c', `${id}.sha256`], { cwd: backupDir(dir), encoding: 'utf8' })).toMatch(/OK/);
    // Nothing complete-looking in the bucket; the interrupted upload is a leftover.
    expect((await remoteNames('killed')).filter((n) => n.endsWith('.info'))).toEqual([]);
    const list = (await cli('list', ['--json'], { cwd: dir, env })).json<ListResult>();
    expect(list.backups.map((b) => [b.id, b.store])).toEqual([[id, 'local']]);
    expect(list.leftovers.some((l) => l.file.startsWith('s3://') && /upload interrupted/.test(l.reason))).toBe(true);

    const push = await cli('push', ['--json'], { cwd: dir, env });
    expect(push.code, push.stderr).toBe(0);
    expect(push.json<{ copied: Array<{ id: string }>; cleaned: string[] }>().copied.map((c) => c.id)).toEqual([id]);
    const after = (await cli('list', ['--json'], { cwd: dir, env })).json<ListResult>();
    expect(after.backups.map((b) => [b.id, b.store])).toEqual([[id, 'both']]);
    expect(after.leftovers).toEqual([]);
    // A second push has nothing to do.
    const again = await cli('push', ['--json'], { cwd: dir, env });
    expect(again.json<{ skipped: unknown[] }>().skipped).toHaveLength(1);
  });

  it('issue 20.4: the restore hint of a --remote-only backup runs as printed, with the --remote and --endpoint it was given', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)' });
    const dir = makeProject();
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const remote = ['--remote', `s3://${server.bucket}/hint`, '--endpoint', server.endpoint];
    const run = await cli('pg-backup', ['--remote-only', '--format', 'dump', ...remote], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const hint = /^Restore with: (.+)$/m.exec(run.stdout)?.[1];
    expect(hint).toMatch(new RegExp(`^pnpm db:restore -- backup_manual_\\d{8}_\\d{6}(_\\d+)? --remote s3://${server.bucket}/hint --endpoint ${server.endpoint.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    const before = await fingerprint(source.url);
    await query(source.url, 'DELETE FROM t');
    const restored = await runPrinted(`${hint!} --force --no-safety-backup`, { cwd: dir, env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await fingerprint(source.url)).toEqual(before);
  });

  it('pulls a backup only the remote has, and skips it when it is already here', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)' });
    const dir = project('pull');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const backup = (await cli('pg-backup', ['--json', '--remote-only', '--format', 'dump,sql'], { cwd: dir, env })).json<BackupResult>();
    const pull = await cli('pull', [backup.id, '--json'], { cwd: dir, env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(execFileSync('sha256sum', ['-c', `${backup.id}.sha256`], { cwd: backupDir(dir), encoding: 'utf8' })).toMatch(/OK\n.*OK/);
    const again = await cli('pull', [backup.id, '--json'], { cwd: dir, env });
    expect(again.json<{ skipped: unknown[]; copied: unknown[] }>()).toMatchObject({ copied: [], skipped: [expect.anything()] });
  });

  it('refuses to pull a backup whose .info was edited in the bucket, saying so, and names an unknown id as unknown', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 10)' });
    const dir = project('pull-edited');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const backup = (await cli('pg-backup', ['--json', '--remote-only', '--format', 'dump'], { cwd: dir, env })).json<BackupResult>();
    const bucket = bucketFor('pull-edited');
    try {
      const name = `${backup.id}.info`;
      const text = (await bucket.getText(name))!;
      await bucket.putSmall(name, text.replace('"type": "manual"', '"type": "auto"'));
    } finally {
      bucket.close();
    }
    const pull = await cli('pull', [backup.id], { cwd: dir, env });
    expect(pull.code, pull.stderr).toBe(12);
    expect(pull.stderr).toMatch(new RegExp(`Backup ${backup.id} in s3://${server.bucket}/pull-edited/default/ cannot be pulled: \\.info [^\n]*checksum`));
    expect(existsSync(path.join(backupDir(dir), `${backup.id}.dump`))).toBe(false);
    const unknown = await cli('pull', ['backup_manual_20000101_000000'], { cwd: dir, env });
    expect(unknown.code, unknown.stderr).toBe(17);
    expect(unknown.stderr).toMatch(/No backup backup_manual_20000101_000000 in s3:\/\/.*List them with pnpm db:list\./);
  });

  it('applies retention to each place, with the remote\'s own counts', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const dir = project('retention', { retention: { keepLast: 2 } });
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await cli('pg-backup', ['--json', '--format', 'dump', 'nightly'], { cwd: dir, env })).json<BackupResult>().id);
    const run = await cli('retention', ['--json', '--daily', '0', '--weekly', '0', '--monthly', '0', '--keep-last', '1'], { cwd: dir, env });
    expect(run.code, run.stderr).toBe(0);
    const list = (await cli('list', ['--json'], { cwd: dir, env })).json<ListResult>();
    expect(list.backups.map((b) => [b.id, b.store])).toEqual([[ids[2], 'both'], [ids[1], 'remote']]);
  });

  it('restores a differential chain that only the bucket holds, pulling each link first', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT now()); INSERT INTO t (id, v) SELECT g, md5(g::text) FROM generate_series(1, 50) g' });
    const dir = project('chain');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const differential = async () => {
      const run = await cli('db-export', ['--differential', '--json'], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      return run.json<{ id: string }>().id;
    };
    const base = await differential();
    await query(source.url, "UPDATE t SET v = 'one', updated_at = now() WHERE id = 1; DELETE FROM t WHERE id = 2");
    const first = await differential();
    await query(source.url, "INSERT INTO t (id, v) VALUES (51, 'new')");
    const second = await differential();
    expect((await remoteNames('chain')).filter((n) => n.endsWith('.info'))).toEqual([base, first, second].map((id) => `${id}.info`).sort());
    rmSync(backupDir(dir), { recursive: true, force: true });

    const target = await createDatabase();
    const run = await cli('db-import', [base, '--until', 'latest', '--force', '--no-safety-backup'], { cwd: dir, env: { ...env, DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    for (const id of [first, second]) expect(run.stderr).toContain(`${id}, a differential of ${base}'s chain, is not on this machine`);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  });

  it('uploads table exports, a directory and a zip, as it writes them; pushes, verifies and pulls them; imports them from the bucket', async () => {
    const source = await createDatabase({ sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 300) g; CREATE TABLE u (id int); INSERT INTO u VALUES (1)" });
    const dir = project('exports');
    const env = { DATABASE_URL: source.url, ...server.credentials };
    const exportOf = async (args: string[]) => {
      const run = await cli('db-export', ['--json', ...args], { cwd: dir, env });
      expect(run.code, run.stderr).toBe(0);
      return run.json<{ id: string }>().id;
    };
    const folder = await exportOf([]);
    const zipped = await exportOf(['--zip']);
    const members = ['data/public.t.csv', 'data/public.u.csv', 'metadata.json', 'schema.sql'].map((f) => `${folder}/${f}`);
    expect(await remoteNames('exports')).toEqual([...members, `${folder}.info`, `${folder}.sha256`, `${zipped}.info`, `${zipped}.sha256`, `${zipped}.zip`].sort());
    expect(readInfo(dir, folder).copies?.remote).toBe(`s3://${server.bucket}/exports/default/${folder}.info`);

    // an export taken while the remote was down is pushed later, file by file
    const offline = makeProject();
    const late = await cli('db-export', ['--json'], { cwd: offline, env });
    expect(late.code, late.stderr).toBe(0);
    const lateId = late.json<{ id: string }>().id;
    writeFileSync(path.join(offline, 'backup-kit.json'), JSON.stringify({ remote: { url: `s3://${server.bucket}/exports-late`, endpoint: server.endpoint } }));
    const push = await cli('push', ['--json'], { cwd: offline, env });
    expect(push.code, push.stderr).toBe(0);
    expect(await remoteNames('exports-late')).toEqual([...members.map((m) => m.replace(folder, lateId)), `${lateId}.info`, `${lateId}.sha256`].sort());

    // from the bucket alone: listed, verified file by file, pulled back whole, imported
    rmSync(backupDir(dir), { recursive: true, force: true });
    const list = (await cli('list', ['--json'], { cwd: dir, env })).json<ListResult>();
    expect(list.backups.map((b) => [b.id, b.store, b.formats])).toEqual([[zipped, 'remote', ['zip']], [folder, 'remote', ['directory']]]);
    for (const id of [folder, zipped]) {
      const verify = await cli('verify', [id], { cwd: dir, env });
      expect(verify.code, verify.stderr + verify.stdout).toBe(0);
    }
    const pull = await cli('pull', [folder], { cwd: dir, env });
    expect(pull.code, pull.stderr).toBe(0);
    expect(readdirSync(path.join(backupDir(dir), folder)).sort()).toEqual(['data', 'metadata.json', 'schema.sql']);
    const target = await createDatabase();
    const imported = await cli('db-import', [folder, '--force', '--no-safety-backup'], { cwd: dir, env: { ...env, DATABASE_URL: target.url } });
    expect(imported.code, imported.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
    // the zip only the bucket holds: db:import by its id downloads it first, checked, then imports it
    const again = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
    const fromRemote = await cli('db-import', [zipped, '--force', '--no-safety-backup'], { cwd: dir, env: { ...env, DATABASE_URL: again.url } });
    expect(fromRemote.code, fromRemote.stderr).toBe(0);
    expect(fromRemote.stderr).toContain(`${zipped} is not on this machine: downloading it from s3://${server.bucket}/exports/default/ first`);
    expect(readdirSync(backupDir(dir)).filter((f) => f.startsWith(zipped)).sort()).toEqual([`${zipped}.info`, `${zipped}.sha256`, `${zipped}.zip`]);
    expect(await fingerprint(again.url)).toEqual(await fingerprint(source.url));
  }, 120_000);

  it('says what to do when the store refuses: unknown key, missing bucket, unknown host, a secret in the config', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const dir = project('errors');
    const base = { DATABASE_URL: source.url };
    const wrongKey = await cli('pg-backup', ['--json'], { cwd: dir, env: { ...base, AWS_ACCESS_KEY_ID: 'WRONGKEY', AWS_SECRET_ACCESS_KEY: 'a-secret-that-must-not-show' } });
    expect(wrongKey.code).toBe(20);
    expect(wrongKey.json<{ error: { code: string } }>().error.code).toBe('REMOTE_CREDENTIALS');
    expect(wrongKey.stderr).toMatch(/rejected the credentials .* came from the process environment/);
    // Neither the output, the JSON nor the run log carries the secret.
    const log = readFileSync(path.join(dir, 'backups/backup.log'), 'utf8');
    expect(log).toMatch(/REMOTE_CREDENTIALS/);
    expect(wrongKey.stdout + wrongKey.stderr + log).not.toContain('a-secret-that-must-not-show');
    expect(readdirSync(backupDir(dir)).filter((f) => f.startsWith('backup_'))).toEqual([]);
    const noBucket = await cli('pg-backup', ['--remote', 's3://no-such-bucket/x'], { cwd: dir, env: { ...base, ...server.credentials } });
    expect(noBucket.code).toBe(20);
    expect(noBucket.stderr).toMatch(/bucket "no-such-bucket" does not exist/);
    const noHost = await cli('list', ['--endpoint', 'http://no-such-host.invalid:9000'], { cwd: dir, env: { ...base, ...server.credentials } });
    expect(noHost.code).toBe(20);
    expect(noHost.stderr).toMatch(/does not resolve/);
    const secret = makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: 's3://b-b/x', accessKeyId: 'AKIAEXAMPLE' } }) });
    const refused = await cli('list', [], { cwd: secret, env: base });
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/accessKeyId looks like a credential/);
  });
});
