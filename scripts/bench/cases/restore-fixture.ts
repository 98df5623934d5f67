/**
 * Shared by the restore cases (not a case itself): each run restores one kit backup (a .dump
 * with statistics, so the kit checks row counts before COMMIT) into a fresh empty database. The
 * safety backup is left out: its cost is a backup's, measured by the backup cases.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { BenchCase, BenchContext, RunOutcome } from '../registry.js';

let counter = 0;

export interface RestoreFixture {
  prepare(dir: string): Promise<void>;
  cleanup(dir: string): Promise<void>;
  /** pg_restore the run's dump into its fresh database with extra arguments. */
  raw(dir: string, args: string[]): Promise<RunOutcome>;
  /** ANALYZE the run's database, as psql would. */
  analyze(dir: string): Promise<void>;
  /** The kit restoring the run's dump into its fresh database with extra arguments. */
  kit(dir: string, args: string[]): Promise<RunOutcome>;
}

/** Run one statement in the subject's cluster, connected to its postgres database. */
export function adminSql(ctx: BenchContext): (sql: string) => ReturnType<BenchContext['tool']> {
  return (sql) => ctx.tool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { ...ctx.subject.env, PGDATABASE: 'postgres' });
}

/** The subject's URL with another database in it. */
export function databaseUrl(ctx: BenchContext, database: string): string {
  const url = new URL(ctx.subject.url);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

export function restoreFixture(ctx: BenchContext): RestoreFixture {
  const targets = new Map<string, string>();
  const admin = adminSql(ctx);
  const urlOf = (database: string) => databaseUrl(ctx, database);
  const dumpOf = (dir: string) => path.join(dir, 'default', readdirSync(path.join(dir, 'default')).find((f) => f.endsWith('.dump'))!);
  return {
    prepare: async (dir) => {
      await ctx.kit(dir, ['pg-backup', '--format', 'dump', '--stats', 'archive', '--skip-space-check']);
      const database = `bench_restore_${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${database}`);
      targets.set(dir, database);
    },
    cleanup: async (dir) => {
      const database = targets.get(dir);
      if (!database) return;
      targets.delete(dir);
      // the kit's --jobs swap leaves the restored copy under the target's name
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
    raw: async (dir, args) => {
      await ctx.tool('pg_restore', ['--exit-on-error', `--dbname=${targets.get(dir)!}`, ...args, dumpOf(dir)]);
      return {};
    },
    analyze: (dir) => ctx.tool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'ANALYZE'], { ...ctx.subject.env, PGDATABASE: targets.get(dir)! }),
    kit: (dir, args) => ctx.kit(dir, ['pg-restore', dumpOf(dir), '--force', '--no-safety-backup', ...args], urlOf(targets.get(dir)!)),
  };
}

/** A restore case: the fixture's prepare and cleanup around `run`. */
export function restoreCase(ctx: BenchContext, id: string, label: string, run: (fixture: RestoreFixture, dir: string) => Promise<RunOutcome>, target?: BenchCase['target']): BenchCase {
  const fixture = restoreFixture(ctx);
  return { id, label, prepare: fixture.prepare, cleanup: fixture.cleanup, run: (dir) => run(fixture, dir), ...(target ? { target } : {}) };
}
