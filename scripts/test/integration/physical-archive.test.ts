import { createServer, type IncomingMessage } from 'node:http';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PhysicalBackupResult } from '../../lib/physical/backup.js';
import { cli, startCli, waitFor } from '../support/harness.js';
import { restoreParent, startDataDir, startPrimary, type Primary } from '../support/physical-cluster.js';

describe('the continuous WAL archive', () => {
  let primary: Primary;
  const received: Array<Record<string, unknown>> = [];
  let hook = '';
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push(JSON.parse(body) as Record<string, unknown>);
      res.writeHead(200).end('ok');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    hook = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks/wal-token`;
    primary = await startPrimary();
    await primary.query('CREATE TABLE feed (id serial PRIMARY KEY, note text)');
  });
  afterAll(async () => {
    await primary?.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const env = () => ({ DATABASE_URL: primary.url() });

  it('refuses a role without replication, saying what to run', async () => {
    await primary.query(`CREATE ROLE plain LOGIN PASSWORD 'plain-pw'`);
    const url = primary.url().replace(/\/\/postgres:[^@]+@/, '//plain:plain-pw@');
    const run = await cli('backup-physical', [], { cwd: primary.project, env: { DATABASE_URL: url } });
    expect(run.code).toBe(22);
    expect(run.stderr).toContain('ALTER ROLE "plain" REPLICATION;');
    expect(run.stderr).not.toContain('plain-pw');
  });

  it('fails closed in an environment that encrypts: no physical backup or WAL in plaintext', async () => {
    const recipients = { AGE_RECIPIENTS: 'age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc' };
    const before = readdirSync(path.join(primary.project, 'backups/default'));
    const run = await cli('backup-physical', [], { cwd: primary.project, env: { ...env(), ...recipients } });
    expect(run.code).toBe(21);
    expect(run.stderr).toMatch(/does not encrypt physical backups: nothing was written in plaintext/);
    const segment = path.join(primary.cluster.dataDir, 'pg_wal');
    const push = await cli('wal-push', [path.join(segment, '000000010000000000000001'), '--project', primary.project], { cwd: primary.project, env: recipients });
    expect(push.code).toBe(21);
    expect(readdirSync(path.join(primary.project, 'backups/default'))).toEqual(before);
  });

  it('follows the primary as a standby restored with --standby', async () => {
    const backup = await cli('backup-physical', ['--json'], { cwd: primary.project, env: env() });
    expect(backup.code).toBe(0);
    const dataDir = path.join(await restoreParent(), 'standby');
    const run = await cli('restore-physical', ['--standby', '--target-dir', dataDir, '--json'], { cwd: primary.project, env: env() });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ standby: true, proof: { promoted: false } });
    expect(readFileSync(path.join(dataDir, 'postgresql.auto.conf'), 'utf8')).not.toContain(primary.cluster.password);
    const standby = await startDataDir(dataDir, primary.cluster.password, primary.cluster.binDir);
    try {
      await primary.query(`INSERT INTO feed (note) VALUES ('after the standby started')`);
      await waitFor('the standby to replay the new row', async () => {
        const rows = await standby.query<{ n: string }>(`SELECT count(*)::text AS n FROM feed WHERE note = 'after the standby started'`);
        return rows[0]!.n === '1' ? true : undefined;
      });
      expect((await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]!.r).toBe(true);
    } finally {
      await standby.stop();
    }
  });

  it('reports a healthy archive, then finds a gap after the base backup', async () => {
    const ok = await cli('wal-status', ['--json'], { cwd: primary.project, env: env() });
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const status = ok.json<{ server: { lastArchivedWal: string; failedCount: number }; archive: { gaps: unknown[]; segments: number } }>();
    expect(status.archive.gaps).toEqual([]);
    expect(status.server.failedCount).toBe(0);

    const segments: string[] = [];
    for (let i = 0; i < 3; i++) {
      await primary.query(`INSERT INTO feed (note) VALUES ('segment ${i}')`);
      segments.push(await primary.switchAndArchive());
    }
    rmSync(path.join(primary.archive, segments[1]!));
    const gap = await cli('wal-status', [], { cwd: primary.project, env: env() });
    expect(gap.code).toBe(23);
    expect(gap.stderr).toContain(`misses 1 segment(s) on timeline 1: ${segments[1]}`);
    const verify = await cli('verify-physical', [], { cwd: primary.project });
    expect(verify.code).toBe(23);
    expect(verify.stdout).toContain(`misses ${segments[1]}`);
  });

  it('keeps an identical segment, refuses a different one, and the stuck archive raises the alarm', async () => {
    // PostgreSQL retrying a segment it already archived: success, nothing rewritten.
    const last = await primary.switchAndArchive();
    const retry = path.join(await restoreParent(), last);
    copyFileSync(path.join(primary.archive, last), retry);
    const again = await cli('wal-push', [retry, '--project', primary.project], { cwd: primary.project });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/already archived \(identical\)/);

    // Another server's segment already sits where the next one goes: never overwritten.
    // After a write, so the position is inside the segment rather than on its first byte.
    await primary.query(`INSERT INTO feed (note) VALUES ('stuck')`);
    const [current] = await primary.query<{ seg: string }>('SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS seg');
    const foreign = path.join(primary.archive, current!.seg);
    expect(readdirSync(primary.archive)).not.toContain(current!.seg);
    writeFileSync(foreign, 'a segment from another cluster');
    await primary.query('SELECT pg_switch_wal()');
    await waitFor('archive_command to fail', async () => {
      const [s] = await primary.query<{ n: number }>('SELECT failed_count AS n FROM pg_stat_archiver');
      return Number(s!.n) > 0 ? true : undefined;
    }).catch((error: Error) => {
      throw new Error(`${error.message}; server log: ${readFileSync(path.join(path.dirname(primary.cluster.dataDir), 'server.log'), 'utf8').slice(-3000)}`);
    });
    expect(readFileSync(foreign, 'utf8')).toBe('a segment from another cluster');

    received.length = 0;
    const run = await cli('wal-status', ['--quiet', '--notify', hook], { cwd: primary.project, env: env() });
    expect(run.code).toBe(23);
    expect(run.stderr).toMatch(/archive_command is failing: [0-9A-F]{24} failed at/);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ command: 'wal-status', outcome: 'failure', exitCode: 23, error: { code: 'WAL_ARCHIVE_STUCK' } });
    expect(JSON.stringify(received[0])).not.toContain(primary.cluster.password);

    // Once the wrong file is moved away, archiving resumes by itself.
    copyFileSync(foreign, path.join(path.dirname(primary.archive), 'quarantined'));
    rmSync(foreign);
    await waitFor('archiving to resume', async () => {
      const [s] = await primary.query<{ last: string | null }>('SELECT last_archived_wal AS last FROM pg_stat_archiver');
      return s!.last !== null && s!.last >= current!.seg ? true : undefined;
    }, 90_000);
  });

  it('Ctrl-C during the base backup leaves no file behind and frees the lock', async () => {
    const dir = path.join(primary.project, 'backups/default/physical');
    const filesIn = (d: string) => (existsSync(d) ? readdirSync(d) : []);
    const before = filesIn(dir);
    // Dirty buffers and a spread checkpoint: pg_basebackup waits for it, long enough to interrupt.
    await primary.query(`INSERT INTO feed (note) SELECT repeat('x', 400) FROM generate_series(1, 50000)`);
    const { child, result } = startCli('backup-physical', ['--checkpoint', 'spread'], { cwd: primary.project, env: env() });
    await waitFor('pg_basebackup to start', () => (filesIn(dir).some((f) => f.endsWith('.partial')) ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGINT');
    const run = await result;
    expect(run.code).toBe(130);
    expect(filesIn(dir).sort()).toEqual(before.sort());
    // Nothing is left holding the environment: the next backup runs.
    const next = await cli('backup-physical', ['--quiet'], { cwd: primary.project, env: env() });
    expect(next.code).toBe(0);
  });

  it('retention keeps the policy\'s base backups and only the WAL they need, without a gap', async () => {
    const newer = await cli('backup-physical', ['--json'], { cwd: primary.project, env: env() });
    expect(newer.code).toBe(0);
    const kept = newer.json<PhysicalBackupResult>();
    await primary.query(`INSERT INTO feed (note) VALUES ('after the newer backup')`);
    await primary.switchAndArchive();
    const before = readdirSync(primary.archive);
    const run = await cli('retention-physical', ['--keep-last', '1', '--daily', '0', '--weekly', '0', '--monthly', '0', '--json'], { cwd: primary.project });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = run.json<{ decisions: Array<{ id: string; keep: boolean }>; wal: string[]; walKeptFrom: string }>();
    expect(result.decisions.filter((d) => d.keep).map((d) => d.id)).toEqual([kept.id]);
    expect(result.walKeptFrom).toBe(kept.wal.startSegment);
    const after = readdirSync(primary.archive);
    expect(after.filter((f) => /^[0-9A-F]{24}$/.test(f)).every((f) => f >= kept.wal.startSegment)).toBe(true);
    expect(after).toContain(kept.wal.startSegment);
    expect(before.length - after.length).toBe(result.wal.length);
    expect(readdirSync(path.join(primary.project, 'backups/default/physical')).filter((f) => f.endsWith('.info'))).toEqual([`${kept.id}.info`]);
    // The gap lay before the kept backup: the archive is whole again.
    const status = await cli('wal-status', [], { cwd: primary.project, env: env() });
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
  });
  it('restores tablespaces only where --tablespace-mapping says, and verifies them', async () => {
    // A tablespace directory the server's user owns, as CREATE TABLESPACE requires.
    const where = await restoreParent();
    const old = path.join(where, 'fast');
    mkdirSync(old, { mode: 0o700 });
    if (process.getuid?.() === 0) await promisify(execFile)('chown', ['postgres:', old]);
    await primary.query(`CREATE TABLESPACE fast LOCATION '${old}'`);
    await primary.query(`CREATE TABLE on_fast (n int) TABLESPACE fast`);
    await primary.query(`INSERT INTO on_fast SELECT generate_series(1, 500)`);
    const run = await cli('backup-physical', ['--json'], { cwd: primary.project, env: env() });
    expect(run.code, run.stderr).toBe(0);
    const withTablespace = run.json<PhysicalBackupResult>();
    expect(withTablespace.files.map((f) => f.role)).toContain('tablespace');

    const dataDir = path.join(where, 'data');
    const unmapped = await cli('restore-physical', [withTablespace.id, '--immediate', '--target-dir', dataDir], { cwd: primary.project });
    expect(unmapped.code).toBe(2);
    expect(unmapped.stderr).toContain(`--tablespace-mapping ${old}=<new directory>`);
    expect(existsSync(dataDir)).toBe(false);

    const moved = path.join(where, 'fast-restored');
    const restore = await cli('restore-physical', [withTablespace.id, '--immediate', '--target-dir', dataDir, '--tablespace-mapping', `${old}=${moved}`], { cwd: primary.project });
    expect(restore.stderr).toBe('');
    expect(restore.code).toBe(0);
    const copy = await startDataDir(dataDir, primary.cluster.password, primary.cluster.binDir);
    try {
      expect(await copy.query(`SELECT pg_tablespace_location(oid) AS at FROM pg_tablespace WHERE spcname = 'fast'`)).toEqual([{ at: moved }]);
      expect(await copy.query(`SELECT count(*)::int AS n FROM on_fast`)).toEqual([{ n: 500 }]);
    } finally {
      await copy.stop();
    }
    const verify = await cli('verify-physical', [withTablespace.id, '--deep'], { cwd: primary.project });
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    await primary.query('DROP TABLE on_fast');
    await primary.query('DROP TABLESPACE fast');
    rmSync(where, { recursive: true, force: true });
  });
});
