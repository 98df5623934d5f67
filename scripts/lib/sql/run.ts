/**
 * db:sql's core: the statements are read as the environment's server reads them (its engine's
 * dialect, sql/classify.ts), refused or confirmed before anything is sent, then run by the engine
 * in one transaction the kit owns, read-only unless --write.
 */
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import { engineForTarget } from '../engines/registry.js';
import type { CommandContext } from '../context.js';
import { classifySql, type ClassifiedStatement } from './classify.js';
import { configFor, readOnlyRole } from '../config/file.js';

export { csvField } from '../format/csv.js';

export interface SqlOptions {
  sql: string;
  write: boolean;
  force: boolean;
  confirm: string | undefined;
  /** Write the last query's rows here as CSV (header row, NULL as an empty unquoted field). */
  csvFile: string | undefined;
  /** Rows kept in the result for display or --json; the rest are counted. */
  keepRows: number;
  waitSeconds: number;
}

export interface SqlUi {
  interactive: boolean;
  /** Ask about destructive statements; on a protected target the database name must be typed. */
  confirmDestructive(statements: ClassifiedStatement[], target: Target): Promise<boolean>;
}

export interface SqlResult {
  database: string;
  readOnly: boolean;
  statements: Array<{ command: string; rowCount: number | null }>;
  columns: string[];
  rows: Array<Array<string | null>>;
  totalRows: number;
  truncated: boolean;
  csvFile: string | undefined;
  durationMs: number;
  /** The kit's own peak memory (for the benchmark: a CSV of any size keeps it flat). */
  peakRssBytes: number;
  /** What kept a read-only session from acting outside the database ('statements', or 'statements, role <name>'). */
  guard?: string;
}

const shown = (s: ClassifiedStatement) => `${s.reason ? `${s.reason}: ` : ''}${s.text.length > 80 ? `${s.text.slice(0, 77)}…` : s.text}`;

/** What the kit refuses whatever the flags: psql commands, and statements that take over its transaction. */
function refuseForeign(statements: ClassifiedStatement[]): void {
  if (statements.length === 0) throw new KitError('USAGE', 'No SQL statement given. Pass it as an argument (pnpm db:sql -- "SELECT …") or on standard input.');
  const meta = statements.filter((s) => s.effect === 'meta');
  if (meta.length) throw new KitError('USAGE', `${meta[0]!.command} is a psql command, not SQL; db:sql runs SQL statements only.`);
  const control = statements.filter((s) => s.effect === 'transaction');
  if (control.length) {
    throw new KitError('USAGE', `db:sql runs your statements in one transaction of its own (read-only unless --write, committed at the end); "${control[0]!.text}" would change that. Leave it out.`);
  }
}

/**
 * Without --write only reads are sent. A READ ONLY transaction alone is not the guard: PostgreSQL
 * lets COPY … TO PROGRAM, LOCK, DO and the server-admin functions run in one.
 */
function refuseUnlessRead(statements: ClassifiedStatement[]): void {
  const outside = statements.filter((s) => s.effect === 'outside');
  if (outside.length) {
    throw new KitError('READ_ONLY', `This acts outside the database, where db:sql's read-only transaction does not reach:\n  ${outside.map(shown).join('\n  ')}\nNothing was run. If you mean it, add --write (it is then confirmed first).`);
  }
  const destructive = statements.filter((s) => s.effect === 'destroy');
  if (destructive.length) throw new KitError('READ_ONLY', `This changes data and db:sql is read-only by default:\n  ${destructive.map(shown).join('\n  ')}\nAdd --write (destructive statements are also confirmed).`);
  const writes = statements.filter((s) => s.effect === 'write');
  if (writes.length) {
    throw new KitError('READ_ONLY', `db:sql runs a read-only transaction unless --write, and this is not a read:\n  ${writes.map(shown).join('\n  ')}\nNothing was run. Add --write to run it (committed at the end).`);
  }
}

/** Refuse what must not run, and confirm what destroys or acts outside the database; throws before anything is sent. */
export async function checkStatements(statements: ClassifiedStatement[], options: Pick<SqlOptions, 'write' | 'force' | 'confirm'>, target: Target, ui: SqlUi): Promise<void> {
  refuseForeign(statements);
  if (!options.write) return refuseUnlessRead(statements);
  const confirmable = statements.filter((s) => s.effect === 'destroy' || s.effect === 'outside');
  if (confirmable.length === 0) return;
  const list = confirmable.map(shown).join('\n  ');
  if (options.force) {
    if (target.protected && options.confirm !== target.database) {
      throw new KitError('PROTECTED_TARGET', `"${target.env}" is a protected environment. To run destructive statements there without a prompt, pass --force --confirm ${target.database}${options.confirm !== undefined ? ` (got --confirm ${options.confirm})` : ''}.`);
    }
    return;
  }
  if (!ui.interactive) {
    throw new KitError('DESTRUCTIVE_STATEMENT', `Refusing to run a destructive statement without confirmation, and there is no terminal to ask:\n  ${list}\nPass --force${target.protected ? ` --confirm ${target.database}` : ''} to run it anyway. Nothing was run.`);
  }
  if (!(await ui.confirmDestructive(confirmable, target))) throw new KitError('NOT_CONFIRMED', 'Not confirmed; nothing was run.');
}

export async function runSql(target: Target, options: SqlOptions, ctx: CommandContext, ui: SqlUi): Promise<SqlResult> {
  const engine = engineForTarget(target);
  const statements = classifySql(options.sql, engine.sqlDialect);
  await checkStatements(statements, options, target, ui);
  const role = options.write ? undefined : readOnlyRole(configFor(ctx.root), target.env);
  const started = ctx.now();
  const outcome = await engine.runStatements(target, statements, {
    write: options.write,
    keepRows: options.keepRows,
    csvFile: options.csvFile,
    waitSeconds: options.waitSeconds,
    readOnlyRole: role === undefined ? undefined : { name: role, where: `backup-kit.json's sql.readOnlyRole (environment ${target.env})` },
  }, ctx);
  return {
    ...outcome,
    database: target.database,
    readOnly: !options.write,
    durationMs: ctx.now().getTime() - started.getTime(),
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}
