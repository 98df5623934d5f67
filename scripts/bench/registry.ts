/**
 * The bench's cases. A case is one file in cases/ that calls registerCase() with a factory, plus
 * one `import './<file>.js';` line in cases/index.ts; the order of those lines is the order of
 * the runs and of the report. A case that is held to a target names the case it is compared with.
 */
import type { Subject } from './subject.js';

export interface RunOutcome {
  /** The kit's own peak RSS, from its --json result. */
  peakRssBytes?: number;
  /** The kit's own duration from its --json result: wall time minus this is start-up cost. */
  innerMs?: number;
  /** Rows a streaming case read (the drivers), for rows per second. */
  rows?: number;
}

export interface BenchCase {
  id: string;
  label: string;
  /** Untimed set-up in the run's directory, e.g. the dump a restore case restores. */
  prepare?(dir: string): Promise<void>;
  /** The timed work; everything it writes goes under `dir`, which is deleted afterwards. */
  run(dir: string): Promise<RunOutcome>;
  /** Untimed tidying after the run, e.g. dropping the database a restore case created. */
  cleanup?(dir: string): Promise<void>;
  /** This case's median divided by `against`'s median must be at most `max`. */
  target?: { label: string; against: string; max: number };
  /**
   * A command that may not work yet (the MySQL engine's commands land one by one): its failure
   * is reported as "not measured: <why>" and the case is not run again, instead of ending the
   * bench. No figure is ever made up for it.
   */
  mayBeUnavailable?: boolean;
}

/** What a case can use; every child it starts stops when `signal` aborts. */
export interface BenchContext {
  subject: Subject;
  signal: AbortSignal;
  /** Path of one of the subject's PostgreSQL programs (pg_dump, pg_restore, psql, pgbench…). */
  bin(program: string): string;
  /** Run a PostgreSQL program that prints little (its output is buffered), with the subject's libpq environment. */
  tool(program: string, args: string[], env?: NodeJS.ProcessEnv): Promise<void>;
  /** Run a kit command through the launcher with --json --quiet, `dir` as BACKUP_DIR and `url` (default: the subject's), plus `env` (e.g. AGE_RECIPIENTS). */
  kit(dir: string, args: string[], url?: string, env?: NodeJS.ProcessEnv): Promise<RunOutcome>;
}

export type CaseFactory = (ctx: BenchContext) => BenchCase;

const factories: CaseFactory[] = [];

export function registerCase(factory: CaseFactory): void {
  factories.push(factory);
}

export function registeredCases(ctx: BenchContext): BenchCase[] {
  const cases = factories.map((factory) => factory(ctx));
  const ids = new Set<string>();
  for (const c of cases) {
    if (ids.has(c.id)) throw new Error(`two bench cases share the id "${c.id}"`);
    ids.add(c.id);
  }
  return cases;
}
