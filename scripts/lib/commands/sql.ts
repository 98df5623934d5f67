/** `db:sql` flags, confirmation and rendering; the work itself is runSql() in sql/run.ts. */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import { readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { ask, isInteractive } from '../cli/prompt.js';
import { runSql, type SqlOptions, type SqlResult, type SqlUi } from '../sql/run.js';

export interface SqlArgs extends CommonArgs, Omit<SqlOptions, 'sql'> {
  sql: string | undefined;
  /** --csv as typed, for messages. */
  csvGiven: string | undefined;
}

/** Rows shown in a terminal (the rest are counted; --csv writes them all). */
export const DISPLAY_ROWS = 200;
const JSON_ROWS = 100_000;

export function terminalSqlUi(): SqlUi {
  return {
    interactive: isInteractive(),
    async confirmDestructive(statements, target) {
      process.stderr.write(`About to run on ${target.database} (${target.host}:${target.port}, environment ${target.env}${target.protected ? ', PROTECTED' : ''}):\n${statements.map((s) => `  ${s.reason}: ${s.text}`).join('\n')}\n`);
      if (target.protected) {
        return (await ask({ type: 'text', message: `Type the database name (${target.database}) to run this on a protected environment` })) === target.database;
      }
      return (await ask({ type: 'confirm', message: 'Run it?', initial: false })) === true;
    },
  };
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new KitError('USAGE', 'Give the SQL to run: pnpm db:sql -- "SELECT …" (or pipe it in).');
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * --csv's directory must exist and take a file before any SQL runs: found out only when the first
 * rows arrive, it read as a failure of the query (and a --write session had already done its work).
 */
function checkCsvDirectory(csvFile: string, given: string): void {
  const dir = path.dirname(csvFile);
  const problem = (() => {
    try {
      if (!statSync(dir).isDirectory()) return `${dir} is not a directory`;
      accessSync(dir, constants.W_OK);
      return undefined;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ENOENT' ? `the directory ${dir} does not exist` : `the directory ${dir} is not writable`;
    }
  })();
  if (problem) throw new KitError('BAD_ARGUMENT', `--csv ${given}: ${problem}; create it or write the file elsewhere. Nothing was run.`);
}

/** An aligned text table, psql style. */
export function renderTable(result: SqlResult): string[] {
  if (result.columns.length === 0) return result.statements.map((s) => `${s.command}${s.rowCount !== null ? ` ${s.rowCount}` : ''}`);
  const show = (v: string | null) => (v === null ? '' : v.replace(/\n/g, '\\n'));
  const widths = result.columns.map((c, i) => Math.min(60, Math.max(c.length, ...result.rows.map((r) => show(r[i] ?? null).length))));
  const cut = (s: string, w: number) => (s.length > w ? `${s.slice(0, w - 1)}…` : s.padEnd(w));
  const lines = [
    ' ' + result.columns.map((c, i) => cut(c, widths[i]!)).join(' | '),
    result.columns.map((_, i) => '-'.repeat(widths[i]! + 2)).join('+'),
    ...result.rows.map((r) => ' ' + r.map((v, i) => cut(show(v), widths[i]!)).join(' | ')),
  ];
  lines.push(`(${result.totalRows} row${result.totalRows === 1 ? '' : 's'}${result.truncated ? `; the first ${result.rows.length} shown, --csv <file> writes them all` : ''})`);
  return lines;
}

export const sqlCommand: Command<SqlArgs, SqlResult> = {
  name: 'sql',
  synopsis: 'pnpm db:sql -- "<sql>" [options]        (or pipe the SQL in on standard input)',
  description: `
Runs SQL against an environment in one transaction. Read-only unless --write: only reads are
sent, and what acts outside the database (COPY to a program or a server file, server-admin
functions such as pg_reload_conf or pg_terminate_backend) is refused. Statements that destroy
(DROP, TRUNCATE, DELETE or UPDATE without WHERE, ALTER … DROP) or act outside are confirmed first:
in a terminal you are asked (on a protected environment you type the database name); without
one, --force is needed (and --confirm <database> on a protected environment).`,
  shared: ['env', 'env-file', 'url'],
  options: {
    write: { type: 'boolean', help: 'allow changes (committed at the end, all or nothing)' },
    force: { type: 'boolean', help: 'run destructive statements without a prompt' },
    confirm: { type: 'string', arg: '<database>', help: 'with --force on a protected environment' },
    csv: { type: 'string', arg: '<file>', help: "write the last query's rows to a CSV file (streamed, any size)" },
    wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers' },
  },
  notes: `With --json the result holds at most ${JSON_ROWS} rows; use --csv for more.`,
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length > 1) problems.push(`Give the SQL as one argument (quote it), got ${positionals.length}.`);
    const waitSeconds = readWait(values, problems);
    const csv = stringValue(values, 'csv');
    if (problems.length) throw usageError(problems, 'pnpm db:sql --');
    return {
      ...common,
      sql: positionals[0],
      write: values.write === true,
      force: values.force === true,
      confirm: stringValue(values, 'confirm'),
      csvFile: csv === undefined ? undefined : path.resolve(csv),
      csvGiven: csv,
      // with --csv every row goes to the file and none is kept: memory stays flat at any size
      keepRows: csv !== undefined ? 0 : common.json ? JSON_ROWS : DISPLAY_ROWS,
      waitSeconds,
    };
  },
  async run(args, ctx) {
    if (args.csvFile) checkCsvDirectory(args.csvFile, args.csvGiven ?? args.csvFile);
    const sql = args.sql ?? (await readStdin());
    const result = await runSql(ctx.target(args), { ...args, sql }, ctx, terminalSqlUi());
    if (args.json && result.truncated && !result.csvFile) throw new KitError('USAGE', `The query returned ${result.totalRows} rows; --json holds at most ${JSON_ROWS}. Use --csv <file>.`);
    return result;
  },
  render(result) {
    if (result.csvFile) return [`${result.totalRows} rows written to ${path.relative(process.cwd(), result.csvFile) || result.csvFile}`];
    return renderTable(result);
  },
  logFields: (result) => ({ statements: result.statements.map((s) => s.command), readOnly: result.readOnly, rows: result.totalRows }),
};
