/**
 * `pnpm db:console`: one prompt for the everyday work on an environment. `backup`, `export`,
 * `import`, `list` run the real commands as children on the same terminal (so their own
 * confirmations apply); `sql …` runs through db:sql's core with the same rules: read-only unless
 * `sql --write …`, destructive statements confirmed at the prompt, typed database name on a
 * protected environment. Completion knows the commands, their flags, and the database's tables
 * and columns; history is kept in ~/.pg_backup_kit_history. Without a terminal, lines are read
 * from standard input and destructive statements are refused, never skipped.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { KitError, exitCodeOf } from '../errors.js';
import { redact } from '../redact.js';
import { runToExit } from '../proc/process.js';
import { engineForTarget } from '../engines/registry.js';
import type { Target } from '../config/target.js';
import type { Command, CommonArgs, CliContext } from '../cli/run.js';
import { runSql, type SqlUi } from '../sql/run.js';
import { backupCommand } from './backup.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { listCommand } from './list.js';
import { DISPLAY_ROWS, renderTable } from './sql.js';
import { REGISTRY } from './registry.js';

/** The commands the console runs as children (its registry entries), with their flags for completion. */
const RUNS = [backupCommand, exportCommand, importCommand, listCommand];
export const CHILDREN: Record<string, { script: string; options: Record<string, unknown> }> = Object.fromEntries(
  REGISTRY.filter((r) => r.console).map((r) => [r.console!.word, { script: r.entry, options: RUNS.find((c) => c.name === r.command)?.options ?? {} }]),
);
const WORDS = [...Object.keys(CHILDREN).sort(), 'sql', '\\help', '\\q'];
const SQL_WORDS = ['SELECT', 'FROM', 'WHERE', 'ORDER BY', 'GROUP BY', 'LIMIT', 'INSERT INTO', 'UPDATE', 'DELETE FROM', 'VALUES', 'JOIN', 'COUNT(*)', '--write'];

export const CONSOLE_HELP = `Commands (Tab completes commands, flags, tables and columns; Up/Down walk the history):
  backup [type] [description] [flags]   take a backup (as pnpm db:backup)
  export [flags]                        export tables as CSV (as pnpm db:export)
  import <export> [flags]               load an export back (as pnpm db:import; asks first)
  list [flags]                          list backups (as pnpm db:list)
  sql <statement>                       run SQL read-only; "sql --write …" to change data
                                        (DROP, TRUNCATE, DELETE/UPDATE without WHERE, ALTER … DROP are confirmed)
  \\help                                 this text
  \\q, exit                              leave
`;

const LAUNCHER = path.join(path.dirname(process.argv[1] ?? 'scripts/db-console.ts'), 'kit.mjs');
const HISTORY = () => path.join(process.env.HOME || homedir(), '.pg_backup_kit_history');

/** Split a console line into words, honouring "double" and 'single' quotes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3]!));
  return words;
}

interface Names {
  tables: string[];
  columns: string[];
}

async function readNames(target: Target): Promise<Names> {
  return engineForTarget(target).completionNames(target).catch(() => ({ tables: [], columns: [] }));
}

export function completeLine(line: string, names: Names): [string[], string] {
  const words = line.split(/\s+/);
  const current = words.at(-1) ?? '';
  const pick = (candidates: string[]) => {
    const hits = candidates.filter((c) => c.toLowerCase().startsWith(current.toLowerCase()));
    return [hits.length ? hits : [], current] as [string[], string];
  };
  if (words.length <= 1) return pick(WORDS.map((w) => `${w} `));
  const command = words[0]!;
  if (command === 'sql') return pick([...SQL_WORDS, ...names.tables, ...names.columns]);
  const child = CHILDREN[command];
  if (!child) return [[], current];
  if (current.startsWith('-')) return pick(Object.keys({ ...child.options, json: 1, quiet: 1, help: 1 }).map((f) => `--${f}`));
  const previous = words.at(-2);
  if (previous === '--table' || previous === '--exclude-table') return pick(names.tables);
  return [[], current];
}

async function runChild(root: string, script: string, args: string[]): Promise<number> {
  return (await runToExit(process.execPath, [LAUNCHER, script, ...args], { cwd: root, stdio: 'inherit' })).code;
}

export interface ConsoleArgs extends CommonArgs {
  waitSeconds: number;
}

export interface ConsoleResult {
  commands: number;
  failed: number;
}

/** The connection flags the console was given, passed on to each child command. */
function connectionArgs(args: ConsoleArgs): string[] {
  return [
    ...(args.env ? ['--env', args.env] : []),
    ...(args.envFile ? ['--env-file', args.envFile] : []),
    ...(args.url ? ['--url', args.url] : []),
  ];
}

function readHistory(): string[] {
  try {
    return readFileSync(HISTORY(), 'utf8').split('\n').filter(Boolean).reverse().slice(0, 1000);
  } catch {
    return [];
  }
}

function consoleUi(question: (prompt: string) => Promise<string>, interactive: boolean): SqlUi {
  return {
    interactive,
    async confirmDestructive(statements, target) {
      process.stderr.write(`About to run on ${target.database} (environment ${target.env}${target.protected ? ', PROTECTED' : ''}):\n${statements.map((s) => `  ${s.reason}: ${s.text}`).join('\n')}\n`);
      if (target.protected) return (await question(`Type the database name (${target.database}) to run this: `)).trim() === target.database;
      return /^y(es)?$/i.test((await question('Run it? [y/N] ')).trim());
    },
  };
}

/** One console line; returns an exit status (0 when it worked). */
async function runLine(line: string, args: ConsoleArgs, ctx: CliContext, target: Target, ui: SqlUi): Promise<number> {
  const words = splitWords(line);
  const command = words[0]!;
  if (command === '\\help' || command === 'help' || command === '\\?') {
    process.stdout.write(CONSOLE_HELP);
    return 0;
  }
  const child = CHILDREN[command];
  if (child) return runChild(ctx.root, child.script, [...words.slice(1), ...connectionArgs(args)]);
  if (command === 'sql') {
    const rest = line.trim().slice(3).trimStart();
    const write = rest.startsWith('--write');
    const sql = write ? rest.slice('--write'.length) : rest;
    try {
      const result = await runSql(target, { sql, write, force: false, confirm: undefined, csvFile: undefined, keepRows: DISPLAY_ROWS, waitSeconds: 0 }, ctx, ui);
      process.stdout.write(renderTable(result).join('\n') + '\n');
      return 0;
    } catch (error) {
      process.stderr.write(redact(`sql: error: ${error instanceof KitError ? error.message : String(error)}`) + '\n');
      return exitCodeOf(error);
    }
  }
  process.stderr.write(`Unknown command "${command}". Type \\help for the list.\n`);
  return 2;
}

export async function runConsole(args: ConsoleArgs, ctx: CliContext): Promise<ConsoleResult> {
  const target = ctx.target(args);
  const interactive = process.stdin.isTTY === true && process.stderr.isTTY === true;
  const names = await readNames(target);
  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stderr,
    terminal: interactive,
    history: interactive ? readHistory() : [],
    historySize: 1000,
    completer: (line: string) => completeLine(line, names),
  });
  // Lines are queued as they arrive (piped input comes all at once) and taken one by one.
  const lines = rl[Symbol.asyncIterator]();
  const nextLine = async (text: string): Promise<string | undefined> => {
    if (interactive) {
      rl.setPrompt(text);
      rl.prompt();
    }
    const next = await lines.next();
    return next.done ? undefined : (next.value as string);
  };
  const ui = consoleUi(async (text) => (await nextLine(text)) ?? '', interactive);
  const prompt = `${target.database}${target.protected ? ' (protected)' : ''}> `;
  if (interactive) process.stderr.write(`pg-backup-kit console on ${target.database} (${target.host}:${target.port}, environment ${target.env}). \\help for help, \\q to leave.\n`);
  const result: ConsoleResult = { commands: 0, failed: 0 };
  try {
    for (;;) {
      const line = await nextLine(prompt);
      if (line === undefined) break;
      const trimmed = line.trim();
      if (!trimmed) continue;
      if (trimmed === '\\q' || trimmed === 'exit' || trimmed === 'quit') break;
      if (interactive) appendFileSync(HISTORY(), `${trimmed.replace(/\n/g, ' ')}\n`, { mode: 0o600 });
      const status = await runLine(trimmed, args, ctx, target, ui);
      result.commands++;
      if (status !== 0) {
        result.failed++;
        // Piped input stops at the first failure, as psql -v ON_ERROR_STOP=1 does: nothing after a refusal runs.
        if (!interactive) throw new KitError(status === 13 ? 'DESTRUCTIVE_STATEMENT' : 'SQL_FAILED', `Stopped at "${trimmed}" (exit ${status}); the lines after it were not run.`);
      }
    }
  } finally {
    rl.close();
  }
  return result;
}

export const consoleCommand: Command<ConsoleArgs, ConsoleResult> = {
  name: 'console',
  synopsis: 'pnpm db:console [-- --env <name>]',
  description: `
An interactive console for one environment: backup, export, import, list, and sql, with
completion of commands, flags, tables and columns, and a history. Type \\help inside.
Without a terminal it reads the lines from standard input and stops at the first failure;
destructive SQL is refused there (no one to confirm it).`,
  shared: ['env', 'env-file', 'url', 'no-progress'],
  options: { wait: { type: 'string', arg: '<seconds>', help: 'retry the connection until the server answers' } },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:console takes no arguments, got: ${positionals.join(' ')}.`);
    const waitSeconds = Number(values.wait ?? 0);
    if (!Number.isFinite(waitSeconds) || waitSeconds < 0) problems.push('--wait takes a number of seconds.');
    if (problems.length) throw new KitError('USAGE', `${problems.join('\n')}\nRun "pnpm db:console --help" for usage.`);
    return { ...common, waitSeconds };
  },
  run: (args, ctx) => runConsole(args, ctx),
  render: (result) => (result.failed ? [`${result.commands} commands, ${result.failed} failed`] : []),
};
