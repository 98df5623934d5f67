/**
 * The option table: every flag a command accepts, with the text --help shows for it. Parsing and
 * the options block of --help both come from this one table, so they cannot drift apart.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { KitError } from '../errors.js';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** The value's placeholder in --help, e.g. "<list>" (string options). */
  arg?: string;
  /** What --help says; "\n" starts a continuation line. */
  help: string;
  /** Other spellings that mean the same flag (e.g. --yes for --force). */
  aliases?: readonly string[];
}

export type OptionTable = Record<string, OptionSpec>;

export type Values = Record<string, string | boolean | string[] | boolean[] | undefined>;

/** The options every command takes. */
export const ALWAYS: OptionTable = {
  json: { type: 'boolean', help: 'print one JSON object on stdout (the result, or ok:false with the error)' },
  quiet: { type: 'boolean', short: 'q', help: 'print nothing on success' },
  notify: { type: 'string', arg: '<url>', help: 'POST a message to this webhook when the command fails (or NOTIFY_URL)' },
  'notify-success': { type: 'boolean', help: 'also notify when it succeeds' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

/** Options a command takes only when it declares them (a command that cannot honour one refuses it). */
export const SHARED = {
  env: { type: 'string', arg: '<name>', help: 'the environment: packages/database/.env.<name>, backups/<name>/' },
  'env-file': { type: 'string', arg: '<path>', help: 'read DATABASE_URL (or DB_*) from this file' },
  url: { type: 'string', arg: '<url>', help: 'connection URL (prefer DATABASE_URL: argv is visible to other users)' },
  'no-progress': { type: 'boolean', help: 'no progress output on stderr' },
  remote: { type: 'string', arg: '<s3://bucket/prefix>', help: "object storage for this run (over backup-kit.json's remote)" },
  endpoint: { type: 'string', arg: '<url>', help: 'the S3 endpoint of a non-AWS provider (R2, B2, MinIO, …)' },
} as const satisfies OptionTable;

export type SharedOption = keyof typeof SHARED;

/** The flags that name an environment's remote (config/remote.ts): commands that read or write backups take both. */
export const REMOTE_OPTIONS: readonly SharedOption[] = ['remote', 'endpoint'];

/** The flags that connect to a database: a command that connects takes all three. */
export const TARGET_OPTIONS: readonly SharedOption[] = ['env', 'env-file', 'url'];

/** The full table of one command, in --help order: its own options, then the shared ones, then the rest. */
export function optionTable(own: OptionTable, shared: readonly SharedOption[]): OptionTable {
  const table: OptionTable = { ...own };
  for (const name of shared) table[name] = SHARED[name];
  return { ...table, ...ALWAYS };
}

function parseConfig(table: OptionTable): NonNullable<ParseArgsConfig['options']> {
  const config: NonNullable<ParseArgsConfig['options']> = {};
  for (const [name, spec] of Object.entries(table)) {
    const base = { type: spec.type, ...(spec.multiple ? { multiple: true } : {}) };
    config[name] = { ...base, ...(spec.short ? { short: spec.short } : {}) };
    for (const alias of spec.aliases ?? []) config[alias] = base;
  }
  return config;
}

/** Strict parse against the table; aliases are folded into their flag's name. */
export function parseCommandLine(argv: string[], table: OptionTable): { values: Values; positionals: string[] } {
  // pnpm passes the "--" of `pnpm db:backup -- --env prod` through; it separates pnpm's flags
  // from ours and means nothing here.
  const args = argv.filter((a) => a !== '--');
  let parsed: { values: Values; positionals: string[] };
  try {
    parsed = parseArgs({ args, options: parseConfig(table), strict: true, allowPositionals: true }) as typeof parsed;
  } catch (error) {
    const message = (error as Error).message;
    const unknown = /Unknown option '([^']+)'/.exec(message);
    if (unknown && (unknown[1] === '--url' || unknown[1] === '--env-file')) {
      // every command that connects takes both (TARGET_OPTIONS): "unknown" would read as a typo
      throw new KitError('UNKNOWN_FLAG', `${unknown[1]} names a database to connect to, and this command never connects to one; see --help for what it takes (--env <name>, where it works on an environment).`);
    }
    if (unknown) throw new KitError('UNKNOWN_FLAG', `Unknown option ${unknown[1]}.`);
    throw new KitError('USAGE', message.replace(/\. To specify a positional argument.*$/s, '.'));
  }
  const values: Values = { ...parsed.values };
  for (const [name, spec] of Object.entries(table)) {
    for (const alias of spec.aliases ?? []) {
      if (values[alias] === undefined) continue;
      values[name] ??= values[alias];
      delete values[alias];
    }
  }
  return { values, positionals: parsed.positionals };
}

const COLUMN = 28;

/** The "Options:" block of --help, one entry per flag in table order. */
export function optionsHelp(table: OptionTable): string[] {
  const lines = ['Options:'];
  for (const [name, spec] of Object.entries(table)) {
    const spellings = [`--${name}`, ...(spec.aliases ?? []).map((a) => `--${a}`), ...(spec.short ? [`-${spec.short}`] : [])];
    const flag = `  ${spellings.join(', ')}${spec.arg ? ` ${spec.arg}` : ''}${spec.multiple ? ' (repeatable)' : ''}`;
    const [first = '', ...rest] = spec.help.split('\n');
    if (flag.length + 2 > COLUMN) lines.push(flag, `${' '.repeat(COLUMN)}${first}`);
    else lines.push(`${flag.padEnd(COLUMN)}${first}`);
    for (const more of rest) lines.push(`${' '.repeat(COLUMN)}${more.trim()}`);
  }
  return lines;
}
