import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir, userInfo, hostname } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { backupDir, cli, createDatabase, holdLock, listBackupFiles, makeProject, pgDumpPidsFor, startCli, waitFor } from '../support/harness.js';

const SEED = 'CREATE TABLE big AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 50000) g; CREATE TABLE small (id int)';

describe('db:backup under real faults leaves no backup that looks complete', () => {
  it('pg_dump killed with SIGKILL → non-zero exit, every partial file removed', async () => {
    const db = await createDatabase({ sql: SEED });
    const project = makeProject();
    const lock = await holdLock(db.url, 'big');
    const { result } = startCli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url } });
    const pids = await waitFor('pg_dump to start', () => (pgDumpPidsFor(db.name).length === 3 ? pgDumpPidsFor(db.name) : undefined));
    // the password travels in pg_dump's environment, never on its command line (a pg_dump that
    // ended between the listing and this read has no command line left to check)
    const cmdlines = pids.flatMap((pid) => {
      try {
        return [readFileSync(`/proc/${pid}/cmdline`, 'utf8')];
      } catch {
        return [];
      }
    });
    expect(cmdlines.length).toBeGreaterThan(0);
    for (const cmdline of cmdlines) expect(cmdline).not.toContain(new URL(db.url).password);
    await waitFor('partial files', () => listBackupFiles(project).some((f) => f.endsWith('.partial')) || undefined);
    // one that is still waiting on the lock
    process.kill(pgDumpPidsFor(db.name)[0]!, 'SIGKILL');
    const run = await result;
    await lock.release();
    expect(run.code).toBe(10);
    expect(run.stderr).toMatch(/pg_dump was killed by SIGKILL/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('Ctrl-C (SIGINT to the process group) → exit 130, children stopped, nothing left', async () => {
    const db = await createDatabase({ sql: SEED });
    const project = makeProject();
    const lock = await holdLock(db.url, 'big');
    const { child, result } = startCli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url } });
    await waitFor('pg_dump to start', () => (pgDumpPidsFor(db.name).length === 3 ? true : undefined));
    process.kill(child.pid!, 'SIGINT');
    const run = await result;
    await lock.release();
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/Interrupted/);
    expect(pgDumpPidsFor(db.name)).toEqual([]);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('a lock held by DDL makes the backup give up after --lock-wait-timeout → 10', async () => {
    const db = await createDatabase({ sql: SEED });
    const project = makeProject();
    const lock = await holdLock(db.url, 'big');
    const run = await cli('pg-backup', ['--lock-wait-timeout', '1s'], { cwd: project, env: { DATABASE_URL: db.url } });
    await lock.release();
    expect(run.code).toBe(10);
    expect(run.stderr).toMatch(/could not obtain lock on table "public.big" in time.*--lock-wait-timeout/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('a second run on the same environment is locked out with a clear message → 9', async () => {
    const db = await createDatabase({ sql: SEED });
    const project = makeProject();
    const lock = await holdLock(db.url, 'big');
    const first = startCli('pg-backup', ['--format', 'dump'], { cwd: project, env: { DATABASE_URL: db.url } });
    await waitFor('first pg_dump', () => (pgDumpPidsFor(db.name).length > 0 ? true : undefined));
    const second = await cli('pg-backup', ['--format', 'dump'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(second.code).toBe(9);
    expect(second.stderr).toMatch(/Another run is using environment "default" \(pid \d+ on .*backup since .*\)\. Wait for it to finish/);
    await lock.release();
    const done = await first.result;
    expect(done.code).toBe(0);
    expect(listBackupFiles(project).filter((f) => f.endsWith('.info'))).toHaveLength(1);
    expect(existsSync(path.join(backupDir(project), '.lock'))).toBe(false);
  });

  it('a lock left by a process that no longer exists is taken over', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const gone = spawnSync('true').pid!;
    mkdirSync(backupDir(project), { recursive: true });
    writeFileSync(path.join(backupDir(project), '.lock'), JSON.stringify({ pid: gone, host: hostname(), command: 'backup', startedAt: new Date(0).toISOString() }));
    const run = await cli('pg-backup', ['--format', 'sql'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(0);
  });

  const canMount = userInfo().uid === 0 && spawnSync('mount', ['--version']).status === 0;
  it.skipIf(!canMount)('a full disk → 8 with nothing left on it; a too-small disk is refused before dumping', async () => {
    const db = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const small = mkdtempSync(path.join(tmpdir(), 'pgkit-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', small]);
    try {
      const refused = await cli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url, BACKUP_DIR: small } });
      expect(refused.code).toBe(8);
      expect(refused.stderr).toMatch(/Not enough free space in .*--skip-space-check/);
      const full = await cli('pg-backup', ['--skip-space-check'], { cwd: project, env: { DATABASE_URL: db.url, BACKUP_DIR: small } });
      expect(full.code).toBe(8);
      expect(full.stderr).toMatch(/disk filled up/);
      expect(readdirSync(path.join(small, 'default')).filter((f) => !f.startsWith('.'))).toEqual([]);
    } finally {
      execFileSync('umount', [small]);
    }
  });
});

describe('db:backup when the server itself goes away or comes late', () => {
  let server: Cluster;
  beforeAll(async () => {
    server = await startCluster({ crashSafe: true }); // stopped with 'immediate' below
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('server stopped mid-backup → 4, no files', async () => {
    execFileSync(path.join(server.binDir, 'psql'), ['-X', '-q', '-c', SEED], { env: { PGHOST: server.host, PGPORT: String(server.port), PGUSER: 'postgres', PGPASSWORD: server.password, PGDATABASE: 'postgres' } });
    const project = makeProject();
    const url = server.url('postgres');
    const lock = await holdLock(url, 'big');
    const { result } = startCli('pg-backup', [], { cwd: project, env: { DATABASE_URL: url } });
    await waitFor('pg_dump to start', () => (pgDumpPidsFor('postgres', server.port).length === 3 ? true : undefined));
    await waitFor('partial files', () => listBackupFiles(project).some((f) => f.endsWith('.partial')) || undefined);
    await server.stop('immediate');
    const run = await result;
    await lock.release();
    await server.start();
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toMatch(/connection to the server was lost during the backup/);
    expect(listBackupFiles(project)).toEqual([]);
  });

  it('--wait rides out a server that is still starting', async () => {
    const project = makeProject();
    await server.stop('fast');
    const { result, output } = startCli('pg-backup', ['--wait', '60', '--format', 'sql'], { cwd: project, env: { DATABASE_URL: server.url('postgres') } });
    // Start the server only once the kit has found it down and is waiting, whatever the machine's speed.
    await waitFor('the kit to wait for the server', () => (output().stderr.includes('waiting for the server (attempt 1)') ? true : undefined));
    await server.start();
    const run = await result;
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/waiting for the server \(attempt 1\)/);
    expect(listBackupFiles(project).filter((f) => f.endsWith('.info'))).toHaveLength(1);
  });
});
