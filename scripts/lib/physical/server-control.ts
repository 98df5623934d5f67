/**
 * A restore target is a directory plus a way to stop and start the server on it. This is the
 * second half: `ServerControl`. The pg_ctl implementation runs the server binaries of the backup's
 * major version as the directory's owner; another implementation (a docker compose service whose
 * volume is the directory) plugs in without the restore changing.
 */
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdtemp } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { KitError } from '../errors.js';
import { captureProcess } from '../proc/process.js';
import { locateServerTool, runProgram, type Program } from '../proc/programs.js';

export interface StartOptions {
  /** Settings given on the server's command line: they win over every configuration file. */
  settings: Record<string, string>;
  logFile: string;
  timeoutSeconds: number;
}

export interface ServerControl {
  describe(): string;
  /** The operating-system user that must own the data directory. */
  owner(): { uid: number; gid: number } | undefined;
  start(dataDir: string, options: StartOptions): Promise<void>;
  stop(dataDir: string, mode: 'fast' | 'immediate'): Promise<void>;
}

/** A postmaster.pid whose process is alive: a server is running on this directory. */
export function runningServerPid(dataDir: string): number | undefined {
  const file = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

export async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  try {
    const uid = await captureProcess('id', ['-u', name]);
    const gid = await captureProcess('id', ['-g', name]);
    return { uid: Number(uid.trim()), gid: Number(gid.trim()) };
  } catch {
    throw new KitError('BAD_ARGUMENT', `There is no operating-system user "${name}" to own the restored data directory. Pass --owner <user>.`);
  }
}

/** Shell-quote for pg_ctl -o, which hands its options to /bin/sh. */
function shellWord(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export class PgCtlControl implements ServerControl {
  private constructor(private readonly pgCtl: Program, private readonly runAs: { uid: number; gid: number } | undefined) {}

  /** As root the server must run as another user (PostgreSQL refuses root): `ownerName`. */
  static async create(major: number, env: NodeJS.ProcessEnv, ownerName: string | undefined): Promise<PgCtlControl> {
    const pgCtl = await locateServerTool('pg_ctl', major, env, false);
    const root = userInfo().uid === 0;
    const runAs = root ? await osUser(ownerName ?? 'postgres') : ownerName ? await osUser(ownerName) : undefined;
    if (!root && runAs && runAs.uid !== userInfo().uid) {
      throw new KitError('BAD_ARGUMENT', `Only root can restore a data directory for another user (--owner ${ownerName}). Run as that user instead.`);
    }
    return new PgCtlControl(pgCtl, root ? runAs : undefined);
  }

  describe(): string {
    return `pg_ctl (${this.pgCtl.path})`;
  }

  owner(): { uid: number; gid: number } | undefined {
    return this.runAs;
  }

  async start(dataDir: string, options: StartOptions): Promise<void> {
    const settings = Object.entries(options.settings).map(([k, v]) => `-c ${shellWord(`${k}=${v}`)}`).join(' ');
    await runProgram(this.pgCtl, ['-D', dataDir, '-l', options.logFile, '-w', '-t', String(options.timeoutSeconds), '-o', settings, 'start'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
      cwd: path.dirname(options.logFile),
      failure: 'RECOVERY_FAILED',
      ...(this.runAs ?? {}),
    });
  }

  async stop(dataDir: string, mode: 'fast' | 'immediate'): Promise<void> {
    await runProgram(this.pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '120', 'stop'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      cwd: '/',
      failure: 'RECOVERY_FAILED',
      ...(this.runAs ?? {}),
    });
  }
}

/** A private temporary directory the server's user owns (its log, socket and pg_hba.conf). */
export async function scratchDir(prefix: string, owner: { uid: number; gid: number } | undefined): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  if (owner) await chown(dir, owner.uid, owner.gid);
  return dir;
}
