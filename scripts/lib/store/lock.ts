/**
 * One run at a time per environment directory.
 *
 * Taking the lock is atomic: the owner record is written whole and fsynced to a private
 * temporary file, then hard-linked to `.lock` (link(2) fails if `.lock` exists). So a `.lock`
 * is never empty or half-written, even when the disk is full: then the temporary file cannot be
 * written and no `.lock` appears at all.
 *
 * Taking over a stale lock (its process is gone: killed with -9, machine rebooted) is done under
 * a second, short-lived mutex (`.lock.takeover`, taken the same atomic way): holding it, the
 * taker reads `.lock` again, removes it only if it is still the very record judged stale, and
 * links its own. Two takers can therefore never both remove a lock, and a fresh lock taken by a
 * third process in between is never removed.
 */
import { closeSync, linkSync, openSync, readFileSync, statSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { KitError } from '../errors.js';
import { LOCK_SCHEMA, parseLockOwner, type LockOwner } from '../format/lock-file.js';
import type { Lock } from './store.js';
import { processAlive } from '../proc/process.js';

export type { Lock } from './store.js';

/** A takeover mutex older than this was left by a process killed inside the takeover. */
const TAKEOVER_STALE_MS = 30_000;

function readRaw(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Write `content` to a private temp file and link it to `file`; false if `file` exists. */
function linkNew(file: string, content: string): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // already gone
  }
}

/** Is this raw record a lock whose owner is gone? Unreadable records are stale: the kit never writes one. */
function isStale(raw: string | undefined): boolean {
  if (raw === undefined) return false; // vanished meanwhile: try again
  const owner = parseLockOwner(raw);
  if (!owner) return true;
  return owner.host === hostname() && !processAlive(owner.pid);
}

/** Remove `.lock` if it still holds exactly `judged`, under the takeover mutex. */
function takeOver(file: string, judged: string): void {
  const mutex = `${file}.takeover`;
  if (!linkNew(mutex, JSON.stringify({ pid: process.pid, host: hostname() }))) {
    // Another taker is at work; a mutex abandoned by a killed taker is cleared after a while.
    try {
      if (Date.now() - statSync(mutex).mtimeMs > TAKEOVER_STALE_MS) unlinkQuietly(mutex);
    } catch {
      // gone already
    }
    return;
  }
  try {
    if (readRaw(file) === judged) unlinkQuietly(file);
  } finally {
    unlinkQuietly(mutex);
  }
}

function describe(raw: string | undefined): string {
  const owner = raw === undefined ? undefined : parseLockOwner(raw);
  return owner ? `pid ${owner.pid} on ${owner.host}, ${owner.command} since ${owner.startedAt}` : 'unknown owner';
}

export function acquireLock(dir: string, command: string, env: string): Lock {
  const file = path.join(dir, '.lock');
  const owner: LockOwner = { schema: LOCK_SCHEMA, pid: process.pid, host: hostname(), command, startedAt: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  const record = JSON.stringify(owner);
  for (let attempt = 0; attempt < 5; attempt++) {
    let taken: boolean;
    try {
      taken = linkNew(file, record);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') {
        throw new KitError('DISK_FULL', `Cannot take the lock in ${dir}: the disk is full. Nothing was changed; free some space and run the command again.`, { cause: error });
      }
      if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
        throw new KitError('BACKUP_DIR_UNWRITABLE', `Cannot take the lock in ${dir} (${code}). Fix the directory's permissions or set BACKUP_DIR.`, { cause: error });
      }
      throw error;
    }
    if (taken) return held(file, record);
    const raw = readRaw(file);
    if (raw !== undefined && !isStale(raw)) {
      throw new KitError('LOCKED', `Another run is using environment "${env}" (${describe(raw)}). Wait for it to finish; if no such process exists, delete ${file}.`);
    }
    if (raw !== undefined) takeOver(file, raw);
  }
  throw new KitError('LOCKED', `Could not take the lock ${file}: other runs keep taking it. Wait for them to finish and run the command again.`);
}

function held(file: string, record: string): Lock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      // Only our own record: a lock someone else took after ours was judged stale stays theirs.
      if (readRaw(file) === record) unlinkQuietly(file);
    },
  };
}

/** The live owner of a directory's lock, if any (a running backup's files are not leftovers). */
export function liveLockOwner(dir: string): LockOwner | undefined {
  const raw = readRaw(path.join(dir, '.lock'));
  if (raw === undefined || isStale(raw)) return undefined;
  return parseLockOwner(raw);
}
