/**
 * The one builder of the "restore this" / "to undo" command line the kit prints: after a backup,
 * after a restore or drop (the undo), and when a migration's rollback failed. It always names the
 * environment (a hint without --env would send a prod backup into the default database), the
 * --url or --env-file the command was given (without --url, an undo of a restore into another
 * database would land in the environment's own), and, for a protected target, its --confirm.
 */

export interface RestoreCommandLine {
  /** A backup file (shown relative to `root` when inside it) or the newest backup of a type. */
  source: { file: string } | { latest: true; type?: string };
  environment: string;
  /** No prompt: --force, plus --confirm <database> when the target is protected. */
  force?: boolean;
  /** The target's database name when the environment is protected. */
  protectedDatabase?: string;
  /** The repository root, to print files relative to it. */
  root?: string;
  /** The flags that reach the same target (the Target's `reach`: --url, --env-file). */
  reach?: string[];
}

const SAFE = /^[\w@%+=:,./-]+$/;

/** Quote for a POSIX shell when needed, so the line can be pasted as printed. */
export function shellWord(word: string): string {
  return SAFE.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function shown(file: string, root: string | undefined): string {
  if (root === undefined || !file.startsWith('/')) return file;
  const rel = file.startsWith(root.endsWith('/') ? root : `${root}/`) ? file.slice(root.length).replace(/^\/+/, '') : undefined;
  return rel || file;
}

export function restoreCommandLine(options: RestoreCommandLine): string {
  const words = ['pnpm', 'db:restore', '--'];
  if ('file' in options.source) words.push(shellWord(shown(options.source.file, options.root)));
  else words.push('--latest', ...(options.source.type ? ['--type', shellWord(options.source.type)] : []));
  if (options.force) words.push('--force');
  if (options.environment !== 'default') words.push('--env', shellWord(options.environment));
  words.push(...(options.reach ?? []).map(shellWord));
  if (options.protectedDatabase !== undefined) words.push('--confirm', shellWord(options.protectedDatabase));
  return words.join(' ');
}
