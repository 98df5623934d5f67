/**
 * A kit killed with SIGKILL leaves no child behind, of any kind, whichever entry point of the
 * process primitive started it. A real Node process (the "kit") imports the kit's own proc modules
 * and starts real children, each busy for minutes:
 *
 *   pg_dump      spawnTool (startProcess)      waiting for a lock the test holds on the run's cluster
 *   psql         startGatedPsql (stdin piped)  its script waiting for the same lock
 *   psql         captureProcess                SELECT pg_sleep(600)
 *   pg_basebackup runProgram                   the kit's own arguments plus --max-rate=32k, streaming WAL
 *   tar          runProgramWithInput           unpacking from a stream that never ends
 *   pg_ctl       runProgram (as the server's user when root)  a smart stop held up by an open session
 *   age          spawnEncrypt                  reading a stdin that got one chunk and then nothing
 *
 * The test waits until each child is really at work (the server shows the waiting backend or the
 * walsender; /proc shows the program itself, not the setpriv that started it), records every
 * descendant of the kit, kills the kit with SIGKILL and expects every one of them to be gone
 * within a few seconds, checked by pid in /proc (a zombie counts as gone: it holds nothing).
 * The descendants include pg_basebackup's WAL streamer, a process pg_basebackup forks, which the
 * parent-death signal does not reach (this test found it streaming on after the kit was killed),
 * and the kit's watchdog shell that now stops such process groups.
 *
 * Not covered: the server that `pg_ctl start` launches outlives pg_ctl by design (pg_ctl detaches
 * it with setsid, and the parent-death signal is not inherited across fork), so a server the kit
 * started for a restore proof is not a child that can die with the kit; and the user's migration
 * command runs under `sh -c`, whose own children do not inherit the signal either.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { captureProcess } from '../../lib/proc/process.js';
import { cluster, createDatabase, holdLock, libpqEnv, makeProject, pgDumpPidsFor, query, REPO, startCli, waitFor, type TestDatabase } from '../support/harness.js';

const LIB = path.join(REPO, 'scripts/lib');
const AGE = ['/usr/bin/age', '/usr/local/bin/age'].find((p) => existsSync(p));
const RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function program(pid: number): string {
  try {
    return path.basename(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '');
  } catch {
    return '';
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).flatMap((task) => readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  } catch {
    return [];
  }
}

function descendantsOf(pid: number): number[] {
  return childrenOf(pid).flatMap((child) => [child, ...descendantsOf(child)]);
}

/** The kit's side: start one child per line read from stdin, through the entry point named. */
function parentScript(plan: object): string {
  const from = (file: string) => JSON.stringify(path.join(LIB, file));
  return `
import { createInterface } from 'node:readline';
import { PassThrough } from 'node:stream';
import { spawnTool, startGatedPsql } from ${from('engines/postgres/tools.ts')};
import { captureProcess } from ${from('proc/process.ts')};
import { runProgram, runProgramWithInput } from ${from('proc/programs.ts')};
import { spawnEncrypt } from ${from('proc/age.ts')};
import { basebackupArgs } from ${from('physical/backup.ts')};
import { tarArgs } from ${from('physical/extract.ts')};
const plan = ${JSON.stringify(plan)};
const tool = (name) => ({ name, path: plan.bin + '/' + name, dir: plan.bin, version: '0', major: 0 });
const ignore = () => undefined;
const starts = {
  pg_dump: () => spawnTool(tool('pg_dump'), ['--format=plain', '--table=held'], { env: plan.shared, failure: 'PG_DUMP_FAILED' }).done.catch(ignore),
  gated_psql: () => {
    const { psql } = startGatedPsql(tool('psql'), plan.shared);
    psql.done.catch(ignore);
    psql.child.stdin.write('SELECT count(*) FROM held;\\n');
  },
  capture_psql: () => captureProcess(plan.bin + '/psql', ['-X', '-c', 'SELECT pg_sleep(600)'], { env: plan.shared }).catch(ignore),
  pg_basebackup: () => runProgram(tool('pg_basebackup'), [...basebackupArgs(plan.work + '/base', 'kill-test', 'none', 'fast'), '--max-rate=32k'], { env: plan.private, failure: 'BASEBACKUP_FAILED' }).catch(ignore),
  tar: () => {
    const input = new PassThrough();
    input.write(Buffer.alloc(512));
    runProgramWithInput({ name: 'tar', path: '/usr/bin/tar' }, tarArgs('none', plan.work + '/unpacked'), input, { failure: 'INTEGRITY_FAILED' }).catch(ignore);
  },
  pg_ctl: () => runProgram(tool('pg_ctl'), ['-D', plan.dataDir, '-m', 'smart', '-w', '-t', '600', 'stop'], { env: { PATH: process.env.PATH }, cwd: '/', failure: 'RECOVERY_FAILED', ...plan.runAs }).catch(ignore),
  age: () => {
    const age = spawnEncrypt([plan.recipient], process.env);
    age.done.catch(ignore);
    age.output.resume();
    age.input.write('one chunk, then nothing');
  },
};
for await (const line of createInterface({ input: process.stdin })) {
  starts[line]();
  process.stdout.write('started ' + line + '\\n');
}
`;
}

/** The kit: Node running the script with tsx's loader, so the process we kill is the kit itself. */
function startKit(script: string): { kit: ChildProcess; start(kind: string): Promise<number[]> } {
  const kit = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  kit.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const pid = kit.pid!;
  return {
    kit,
    /** Start one kind; resolves with the pids of the kit's new children once the program runs in each. */
    async start(kind: string) {
      const before = new Set(childrenOf(pid));
      kit.stdin!.write(`${kind}\n`);
      await waitFor(`the kit to start ${kind}`, () => out.includes(`started ${kind}\n`));
      const name = kind.replace(/^(gated|capture)_/, '');
      return waitFor(`${kind} to run`, () => {
        const fresh = childrenOf(pid).filter((pid) => !before.has(pid) && program(pid) === name);
        return fresh.length ? fresh : undefined;
      });
    },
  };
}

/** Whether a backend of `application` is there, waiting for a lock or running `like`. */
async function backendBusy(url: string, application: string, busy: { lock: true } | { like: string }): Promise<true | undefined> {
  const rows = await query(url, `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid() AND ($2::text IS NULL OR wait_event_type = 'Lock') AND query LIKE $3`, [application, 'lock' in busy ? 'lock' : null, 'like' in busy ? busy.like : '%']);
  return rows.length > 0 ? true : undefined;
}

describe('children die with the kit (real children, real SIGKILL)', () => {
  let db: TestDatabase;
  let own: Cluster;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'pgkit-children-'));
    db = await createDatabase({ sql: 'CREATE TABLE held (id int); INSERT INTO held VALUES (1);' });
    own = await startCluster();
  });

  afterAll(async () => {
    await own?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('no child of any kind, nor any child of theirs, survives a SIGKILL of the kit', async () => {
    const lock = await holdLock(db.url, 'held');
    // Held open, so a smart stop waits for it: pg_ctl stays at work.
    const session = new pg.Client({ connectionString: own.url() });
    await session.connect();
    const root = userInfo().uid === 0;
    const runAs = root ? { uid: Number(await captureProcess('id', ['-u', 'postgres'])), gid: Number(await captureProcess('id', ['-g', 'postgres'])) } : {};
    mkdirSync(path.join(dir, 'unpacked'));
    const privateEnv = { PATH: process.env.PATH, PGHOST: own.host, PGPORT: String(own.port), PGUSER: own.superuser, PGPASSWORD: own.password };
    const plan = { bin: cluster().binDir, shared: libpqEnv(db.url), private: privateEnv, dataDir: own.dataDir, work: dir, runAs, recipient: RECIPIENT };
    const script = path.join(dir, 'kit.mts');
    writeFileSync(script, parentScript(plan));
    const { kit, start } = startKit(script);
    const killed = kit.pid!;
    let everyone: number[] = [];
    try {
      const started: Record<string, number[]> = {};
      started.pg_dump = await start('pg_dump');
      await waitFor('pg_dump to wait for the lock', () => backendBusy(db.url, 'pg_dump', { lock: true }));
      started.gated_psql = await start('gated_psql');
      await waitFor('psql to wait for the lock', () => backendBusy(db.url, 'psql', { lock: true }));
      started.capture_psql = await start('capture_psql');
      await waitFor('psql to sleep', () => backendBusy(db.url, 'psql', { like: 'SELECT pg_sleep(600)%' }));
      started.pg_basebackup = await start('pg_basebackup');
      await waitFor('the base backup to stream', async () => (await query(own.url(), `SELECT 1 FROM pg_stat_replication`)).length > 0 || undefined);
      // pg_basebackup's own WAL streamer, a child of its own, must die too
      await waitFor('the WAL streamer to start', () => (descendantsOf(started.pg_basebackup![0]!).length > 0 ? true : undefined));
      started.pg_ctl = await start('pg_ctl');
      started.tar = await start('tar');
      if (AGE) started.age = await start('age');

      everyone = descendantsOf(killed);
      const kinds = Object.fromEntries(Object.entries(started).map(([kind, pids]) => [kind, pids.length]));
      expect(kinds).toEqual({ pg_dump: 1, gated_psql: 1, capture_psql: 1, pg_basebackup: 1, pg_ctl: 1, tar: 1, ...(AGE ? { age: 1 } : {}) });
      for (const pid of Object.values(started).flat()) expect(everyone).toContain(pid);

      kit.kill('SIGKILL');
      await waitFor('every child of the killed kit to end', () => everyone.every((pid) => !alive(pid)) || undefined, 10_000).catch(() => undefined);
      const survivors = everyone.filter(alive).map((pid) => `${pid} ${program(pid)}`);
      expect(survivors).toEqual([]);
    } finally {
      const left = [...everyone, ...descendantsOf(killed)];
      kit.kill('SIGKILL');
      for (const pid of left) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await lock.release();
      await session.end().catch(() => undefined);
    }
  });

  it('the kit itself (pnpm db:backup), killed while its pg_dumps wait for a lock, leaves no pg_dump behind', async () => {
    const lock = await holdLock(db.url, 'held');
    const project = makeProject();
    try {
      const { child, result } = startCli('pg-backup', [], { cwd: project, env: { DATABASE_URL: db.url } });
      // one pg_dump per format, all waiting for the lock
      const dumps = await waitFor('the pg_dumps to start', () => (pgDumpPidsFor(db.name).length === 3 ? pgDumpPidsFor(db.name) : undefined));
      child.kill('SIGKILL');
      expect((await result).signal).toBe('SIGKILL');
      await waitFor('every pg_dump of the killed kit to end', () => (dumps.every((pid) => !alive(pid)) ? true : undefined), 10_000).catch(() => undefined);
      expect(dumps.filter(alive)).toEqual([]);
    } finally {
      await lock.release();
      rmSync(project, { recursive: true, force: true });
    }
  });
});
