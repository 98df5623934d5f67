/**
 * One run at a time per environment directory. The lock is a file created with O_EXCL holding
 * the owner's pid; a lock whose process is gone (killed with -9, machine rebooted) is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { KitError } from '../errors.js';

interface LockOwner {
  pid: number;
  host: string;
  command: string;
  startedAt: string;
}

export interface Lock {
  file: string;
  release(): void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

export function acquireLock(dir: string, command: string, env: string): Lock {
  const file = path.join(dir, '.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      const owner: LockOwner = { pid: process.pid, host: hostname(), command, startedAt: new Date().toISOString() };
      writeSync(fd, JSON.stringify(owner));
      closeSync(fd);
      let released = false;
      return {
        file,
        release() {
          if (released) return;
          released = true;
          try {
            unlinkSync(file);
          } catch {
            // already gone: nothing to release
          }
        },
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = readOwner(file);
      const stale = owner !== undefined && owner.host === hostname() && !alive(owner.pid);
      if (stale && attempt === 0) {
        unlinkSync(file);
        continue;
      }
      const who = owner ? `pid ${owner.pid} on ${owner.host}, ${owner.command} since ${owner.startedAt}` : 'unknown owner';
      throw new KitError('LOCKED', `Another run is using environment "${env}" (${who}). Wait for it to finish; if no such process exists, delete ${file}.`);
    }
  }
  throw new KitError('LOCKED', `Could not take the lock ${file}.`);
}
