/**
 * The comment every database the kit creates carries (its purpose, the database it serves, the
 * process that made it), and what it tells a connection that finds its database closed: a
 * restore's swap closes the target (ALLOW_CONNECTIONS false) just before its renames commit, and
 * a run killed there leaves it closed. Any command that meets that repairs it (the renames never
 * committed, so the target is as it was) or says who holds it and how to open it.
 */
import { hostname } from 'node:os';
import { KitError } from '../../errors.js';
import { processAlive } from '../../proc/process.js';
import { ident } from './quote.js';
import type pg from 'pg';

const MARKER = /^pg-backup-kit scratch: (restore of|verification of) "(.*)" by pid (\d+) on (.*)$/s;

/** The comment a scratch database carries while the kit works in it. Pure. */
export function scratchMarker(purpose: 'restore of' | 'verification of', database: string, pid = process.pid, host = hostname()): string {
  return `pg-backup-kit scratch: ${purpose} "${database}" by pid ${pid} on ${host}`;
}

export function parseScratchMarker(comment: string | null): { purpose: string; database: string; pid: number; host: string } | undefined {
  const match = comment ? MARKER.exec(comment) : null;
  return match ? { purpose: match[1]!, database: match[2]!, pid: Number(match[3]), host: match[4]! } : undefined;
}

export type ClosedDatabase = { reopened: string } | { error: KitError };

/**
 * `database` refuses connections: open it again when a restore of it on this host was killed
 * inside its swap (one query finds the restore's marked copy), or explain who closed it. `admin`
 * is a connection to another database of the same server.
 */
export async function reopenClosedDatabase(admin: pg.Client, database: string, where: string): Promise<ClosedDatabase> {
  const { rows } = await admin.query<{ name: string; comment: string | null }>(
    `SELECT d.datname AS name, shobj_description(d.oid, 'pg_database') AS comment
       FROM pg_database d WHERE shobj_description(d.oid, 'pg_database') LIKE 'pg-backup-kit scratch: restore of %'`,
  );
  const copies = rows.map((r) => ({ name: r.name, marker: parseScratchMarker(r.comment) })).filter((c) => c.marker?.purpose === 'restore of' && c.marker.database === database);
  const open = `ALTER DATABASE ${ident(database)} WITH ALLOW_CONNECTIONS true`;
  const here = copies.filter((c) => c.marker!.host === hostname());
  const alive = here.find((c) => processAlive(c.marker!.pid));
  if (alive) return { error: new KitError('SERVER_UNREACHABLE', `Database "${database}" on ${where} refuses connections because a restore into it (pid ${alive.marker!.pid}) is swapping it in right now. Wait for that restore to finish, then run this again.`) };
  const killed = here[0];
  if (killed) {
    // Its renames never committed: the target is as it was, and the half-made copy is worthless.
    await admin.query(open);
    const dropped = await admin.query(`DROP DATABASE IF EXISTS ${ident(killed.name)} WITH (FORCE)`).then(() => true, () => false);
    const copy = dropped ? `dropped ${killed.name}, its unfinished copy` : `its unfinished copy ${killed.name} is dropped by the next pnpm db:restore`;
    return { reopened: `repaired a restore that was killed while swapping databases: ${database} accepts connections again, unchanged (${copy})` };
  }
  const elsewhere = copies[0]?.marker;
  const why = elsewhere
    ? `a restore of it on host ${elsewhere.host} (pid ${elsewhere.pid}) closed it while swapping databases. If that run is gone, the database is unchanged: run pnpm db:restore again on that host (it repairs it first), or open it yourself with: ${open}`
    : `its connections are switched off (datallowconn is false), and no restore by this kit did that. Ask whoever closed it, or open it with: ${open}`;
  return { error: new KitError('SERVER_UNREACHABLE', `Database "${database}" on ${where} refuses connections: ${why}.`) };
}
