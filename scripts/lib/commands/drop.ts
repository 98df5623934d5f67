/** `db:drop`: flags, the confirmation and the report; the work is dropAll(). */
import path from 'node:path';
import { readWait, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { formatDuration } from '../cli/progress.js';
import { ask, isInteractive } from '../cli/prompt.js';
import { dropAll, type DropOptions, type DropResult } from '../drop/drop.js';
import { DEFAULT_LOCK_TIMEOUT_SECONDS, parseLockTimeout } from '../engines/postgres/locks.js';

export interface DropArgs extends CommonArgs, DropOptions {}

export const dropCommand: Command<DropArgs, DropResult> = {
  name: 'drop',
  synopsis: 'pnpm db:drop -- --env <name> [--force] [--skip-backup]',
  description: `
Empties a database: takes a pre-drop backup, then drops every user schema (with everything in
it), event triggers, publications and large objects, and recreates public with the owner,
privileges and comment it had. Undo with: pnpm db:restore -- --latest --type pre-drop --env <name>`,
  shared: ['env', 'env-file', 'url'],
  options: {
    force: { type: 'boolean', aliases: ['yes'], short: 'y', help: 'no prompt; a protected environment also needs --confirm <database>' },
    confirm: { type: 'string', arg: '<database>', help: "the database's name, for protected environments" },
    'skip-backup': { type: 'boolean', help: 'no pre-drop backup (refused on protected environments)' },
    wait: { type: 'string', arg: '<seconds>', help: 'wait for the server to answer' },
    'lock-timeout': { type: 'string', arg: '<seconds>', help: `wait this long for a table lock another session holds (default ${DEFAULT_LOCK_TIMEOUT_SECONDS})` },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:drop takes no arguments, got ${positionals.join(' ')}.`);
    const waitSeconds = readWait(values, problems);
    const lockTimeoutSeconds = parseLockTimeout(stringValue(values, 'lock-timeout'), problems);
    if (problems.length) throw usageError(problems, 'pnpm db:drop --');
    return { ...common, force: values.force === true, confirm: stringValue(values, 'confirm'), skipBackup: values['skip-backup'] === true, waitSeconds, lockTimeoutSeconds };
  },
  run(args, ctx) {
    const quiet = args.quiet || args.json;
    return dropAll(ctx.target(args), args, ctx, {
      interactive: isInteractive(),
      show: (lines) => {
        if (!quiet) process.stderr.write(lines.join('\n') + '\n');
      },
      async confirm(target) {
        if (target.protected) return (await ask({ type: 'text', message: `Type the database name (${target.database}) to drop everything in this protected environment` })) === target.database;
        return (await ask({ type: 'confirm', message: `Drop everything in ${target.database}?`, initial: false })) === true;
      },
    });
  },
  render(result) {
    const rel = (p: string) => path.relative(process.cwd(), p) || p;
    return [
      `Dropped everything in ${result.target.database} on ${result.target.host}:${result.target.port} in ${formatDuration(result.durationMs)}: ${result.dropped.join(', ') || 'it was already empty'}.`,
      ...(result.notDropped.length ? ['Could not drop (owned by other roles or needing a superuser):', ...result.notDropped.map((n) => `  ${n}`)] : []),
      ...(result.backup ? [`  pre-drop backup: ${rel(result.backup.file)}`, `To undo: ${result.undo}`] : []),
    ];
  },
  logFields(result) {
    return { backup: result.backup?.id, dropped: result.dropped.length, notDropped: result.notDropped.length };
  },
};
