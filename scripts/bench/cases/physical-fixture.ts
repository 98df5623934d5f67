/**
 * The cluster the physical cases share: throw-away, with archive_mode on and pgBackRest's
 * archive_command, loaded with pgbench data at the scale of the subject. It lives for the whole bench (started by the first physical case,
 * stopped when the bench ends); pgBackRest (Debian: apt-get install pgbackrest) must be installed.
 * As root, the server and pgBackRest run as `postgres`.
 */
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { parseKitResult, LAUNCHER, REPO } from '../context.js';
import type { BenchContext, RunOutcome } from '../registry.js';

const execFileAsync = promisify(execFile);
const STANZA = 'bench';

export interface PhysicalFixture {
  cluster: Cluster;
  base: string;
  project: string;
  pgbackrestConf: string;
  owner: { uid: number; gid: number } | undefined;
  /** Run a program as the server's user (pgBackRest, pg_ctl). */
  asServer(file: string, args: string[], signal: AbortSignal): Promise<string>;
  /** The kit with this fixture's project and archive. */
  kit(args: string[], signal: AbortSignal): Promise<RunOutcome>;
  /** The same, for untimed housekeeping whose result is not measured. */
  kitUntimed(args: string[], signal: AbortSignal): Promise<void>;
}

let fixture: Promise<PhysicalFixture> | undefined;

async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (userInfo().uid !== 0) return undefined;
  const { stdout: uid } = await execFileAsync('id', ['-u', 'postgres']);
  const { stdout: gid } = await execFileAsync('id', ['-g', 'postgres']);
  return { uid: Number(uid), gid: Number(gid) };
}

function pgbackrestPath(): string {
  for (const dir of (process.env.PATH ?? '/usr/bin').split(path.delimiter)) if (existsSync(path.join(dir, 'pgbackrest'))) return path.join(dir, 'pgbackrest');
  throw new Error('the physical cases compare with pgBackRest, which is not installed: apt-get install pgbackrest (or leave them out with --case)');
}

async function create(ctx: BenchContext): Promise<PhysicalFixture> {
  const pgbackrest = pgbackrestPath();
  const owner = await serverUser();
  const base = mkdtempSync(path.join(tmpdir(), 'pgkit-bench-physical-'));
  const project = path.join(base, 'project');
  const wal = path.join(project, 'backups/default/wal');
  for (const dir of ['repo', 'log', 'lock']) mkdirSync(path.join(base, dir));
  mkdirSync(wal, { recursive: true });
  for (const dir of [base, project, path.join(project, 'backups'), path.join(project, 'backups/default')]) chmodSync(dir, 0o711);
  if (owner) for (const dir of ['repo', 'log', 'lock']) chownSync(path.join(base, dir), owner.uid, owner.gid);
  if (owner) chownSync(wal, owner.uid, owner.gid);
  const pgbackrestConf = path.join(base, 'pgbackrest.conf');
  // pgBackRest's own archive_command only: its backup waits for the WAL it archives (its
  // default archive-check), and no kit process in that loop may slow it down. The kit's backup
  // carries the WAL it needs; its restore here recovers that WAL (the archive stays empty).
  const cluster = await startCluster({ settings: { archive_mode: 'on', archive_command: `${pgbackrest} --config=${pgbackrestConf} --stanza=${STANZA} archive-push %p` } });
  // Both sides compress with lz4 and start with an immediate checkpoint.
  writeFileSync(pgbackrestConf, `[global]\nrepo1-path=${base}/repo\nlog-path=${base}/log\nlock-path=${base}/lock\nstart-fast=y\ncompress-type=lz4\nlog-level-console=warn\n\n[${STANZA}]\npg1-path=${cluster.dataDir}\npg1-port=${cluster.port}\npg1-socket-path=${cluster.socketDir}\n`, { mode: 0o644 });
  const asServer = async (file: string, args: string[], signal: AbortSignal) => {
    const { stdout } = await execFileAsync(file, args, { cwd: base, signal, maxBuffer: 1 << 20, ...(owner ?? {}) }).catch((error: Error & { stderr?: string }) => {
      throw new Error(`${path.basename(file)} ${args.join(' ')} failed: ${error.stderr?.trim() || error.message}`);
    });
    return stdout;
  };
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', DATABASE_URL: cluster.url('bench'), LOG_FILE: path.join(base, 'kit.log') };
  const kitUntimed = async (args: string[], signal: AbortSignal) => {
    await execFileAsync(process.execPath, [LAUNCHER, ...args, '--quiet'], { cwd: project, env, signal, maxBuffer: 16 << 20 });
  };
  const kit = async (args: string[], signal: AbortSignal) => {
    const { stdout } = await execFileAsync(process.execPath, [LAUNCHER, ...args, '--json', '--quiet'], { cwd: project, env, signal, maxBuffer: 16 << 20 });
    return parseKitResult(stdout);
  };
  // The same data as the subject: pgbench at the subject's scale.
  const scale = await subjectScale(ctx);
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  await admin.query('CREATE DATABASE bench').finally(() => admin.end());
  await execFileAsync(path.join(cluster.binDir, 'pgbench'), ['-i', '-s', String(scale), '--quiet'], { env: { PATH: process.env.PATH, PGHOST: cluster.host, PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.password, PGDATABASE: 'bench' } });
  await execFileAsync(process.execPath, [LAUNCHER, 'wal-push', '--help'], { cwd: REPO });
  await asServer(pgbackrest, [`--config=${pgbackrestConf}`, `--stanza=${STANZA}`, 'stanza-create'], ctx.signal);
  const ready: PhysicalFixture = { cluster, base, project, pgbackrestConf, owner, asServer, kit, kitUntimed };
  // One backup of each kind for the restore cases, untimed.
  await asServer(pgbackrest, [`--config=${pgbackrestConf}`, `--stanza=${STANZA}`, '--type=full', 'backup'], ctx.signal);
  await kitUntimed(['backup-physical', '--skip-space-check'], ctx.signal);
  process.once('beforeExit', () => void cluster.destroy().then(() => rmSync(base, { recursive: true, force: true })));
  return ready;
}

async function subjectScale(ctx: BenchContext): Promise<number> {
  const client = new pg.Client({ connectionString: ctx.subject.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM pgbench_branches`);
    return Math.max(1, Number(rows[0]!.n));
  } catch {
    return 20;
  } finally {
    await client.end();
  }
}

export function physicalFixture(ctx: BenchContext): Promise<PhysicalFixture> {
  fixture ??= create(ctx);
  return fixture;
}

export function pgbackrest(f: PhysicalFixture, args: string[], signal: AbortSignal): Promise<string> {
  return f.asServer(pgbackrestPath(), [`--config=${f.pgbackrestConf}`, `--stanza=${STANZA}`, ...args], signal);
}

/** A directory inside the run's directory that the server's user may fill. */
export function serverDir(runDir: string, name: string, f: PhysicalFixture): string {
  chmodSync(runDir, 0o711);
  const dir = path.join(runDir, name);
  mkdirSync(dir, { mode: 0o700 });
  if (f.owner) chownSync(dir, f.owner.uid, f.owner.gid);
  return dir;
}
