/**
 * The MySQL/MariaDB client programs (mariadb-dump, mariadb), found on PATH and run through the
 * kit's one process primitive. The connection reaches them through a private option file, never
 * argv or the environment: a 0600 file in a 0700 directory of its own, named first on the command
 * line as --defaults-extra-file, and removed as soon as the program has ended (also when it failed
 * or was stopped). MYSQL_PWD is not used: both servers deprecate it. A kit killed outright cannot
 * remove its file: the directory carries the kit's pid, and the next start removes every such
 * directory whose kit is gone.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ErrorCode } from '../../errors.js';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { probeOutput, processAlive, startProcess, type ProcessOptions, type RunningProcess } from '../../proc/process.js';

/** The kit's names for the two programs; each is found under its MariaDB name, then its MySQL one. */
export type MySqlToolName = 'mariadb-dump' | 'mariadb';

const PROGRAMS: Record<MySqlToolName, string[]> = {
  'mariadb-dump': ['mariadb-dump', 'mysqldump'],
  mariadb: ['mariadb', 'mysql'],
};

export interface MySqlTool {
  name: MySqlToolName;
  /** The program run (an absolute path, or a name PATH resolves). */
  path: string;
  /** The program's own version line, e.g. "mariadb-dump  Ver 10.19 Distrib 10.11.6-MariaDB, …". */
  versionLine: string;
  /** The server release it was built with ("10.11.6"), when the line names one. */
  release: string | undefined;
  flavour: 'MariaDB' | 'MySQL';
}

const located = new Map<string, Promise<MySqlTool>>();

/** The first of the program's names that runs; a clear refusal naming the package when none does. */
export function locateMySqlTool(name: MySqlToolName, env: NodeJS.ProcessEnv = process.env): Promise<MySqlTool> {
  const key = `${name}\0${env.PATH ?? ''}`;
  let found = located.get(key);
  if (!found) {
    found = findTool(name);
    found.catch(() => located.delete(key));
    located.set(key, found);
  }
  return found;
}

async function findTool(name: MySqlToolName): Promise<MySqlTool> {
  for (const program of PROGRAMS[name]) {
    const line = await probeOutput(program, ['--no-defaults', '--version'], 10_000);
    if (line === undefined) continue;
    const versionLine = line.trim().split('\n')[0] ?? '';
    return { name, path: program, versionLine, ...parseClientVersion(versionLine) };
  }
  throw new KitError('PG_TOOL_MISSING', `${PROGRAMS[name].join(' or ')} was not found on PATH. Install the client programs: apt-get install mariadb-client (Debian/Ubuntu), or your MySQL distribution's client package.`);
}

/** "… Distrib 10.11.6-MariaDB, for debian-linux-gnu" or "mysqldump  Ver 8.0.36 for Linux" → release and flavour. */
export function parseClientVersion(line: string): { release: string | undefined; flavour: 'MariaDB' | 'MySQL' } {
  const flavour = /mariadb/i.test(line) ? 'MariaDB' : 'MySQL';
  const distrib = /Distrib\s+(\d+\.\d+\.\d+)/i.exec(line) ?? /\bVer\s+(\d+\.\d+\.\d+)/i.exec(line) ?? /(\d+\.\d+\.\d+)-MariaDB/i.exec(line);
  return { release: distrib?.[1], flavour };
}

/** The [client] option group that connects a program to the target; values are quoted for the option-file parser. */
export function optionFileText(target: Target): string {
  const quote = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  const lines = ['[client]', `user=${quote(target.user)}`];
  if (target.password !== undefined) lines.push(`password=${quote(target.password)}`);
  if (target.host.startsWith('/')) lines.push(`socket=${quote(target.host)}`, 'protocol=SOCKET');
  else lines.push(`host=${quote(target.host)}`, `port=${target.port}`, 'protocol=TCP');
  lines.push('default-character-set=utf8mb4');
  return lines.join('\n') + '\n';
}

export interface StartMySqlToolOptions extends Omit<ProcessOptions, 'name' | 'missing' | 'failure'> {
  failure: ErrorCode;
}

/**
 * Runs a client program connected to the target. The option file exists from just before the
 * spawn until the program has ended; `args` must not carry a connection of their own.
 */
export function startMySqlTool(tool: MySqlTool, target: Target, args: readonly string[], options: StartMySqlToolOptions): RunningProcess {
  removeOrphanedOptionFiles();
  const dir = mkdtempSync(path.join(tmpdir(), `${OPTION_DIR_PREFIX}${process.pid}-`));
  const file = path.join(dir, 'client.cnf');
  try {
    writeFileSync(file, optionFileText(target), { mode: 0o600 });
    const running = startProcess(tool.path, [`--defaults-extra-file=${file}`, ...args], { ...options, name: tool.name, missing: 'PG_TOOL_MISSING' });
    const remove = () => rmSync(dir, { recursive: true, force: true });
    running.done.then(remove, remove);
    return running;
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

const OPTION_DIR_PREFIX = 'pgkit-mysql-';

/** Option-file directories left by a kit that was killed before it could remove them. */
export function removeOrphanedOptionFiles(): void {
  let names: string[];
  try {
    names = readdirSync(tmpdir());
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/^pgkit-mysql-(\d+)-/.exec(name)?.[1]);
    if (pid && pid !== process.pid && !processAlive(pid)) rmSync(path.join(tmpdir(), name), { recursive: true, force: true });
  }
}
