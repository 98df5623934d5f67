/**
 * The command registry: the one table that says, for every command of the kit, which pnpm
 * scripts run it (with their fixed arguments), which entry file the launcher starts, which lock it
 * holds while it runs, and whether the menu (`pnpm db`) and the console (`pnpm db:console`) offer
 * it. package.json, scripts/*.ts, menu.ts and console.ts are checked against it by a test, and
 * docs/reference/commands.md is generated from it.
 *
 * The table holds no `Command` objects on purpose: every entry file is bundled on its own, and
 * importing every command into each bundle would cost each start about a tenth of a second. The
 * `Command` of each row is found through its `Command.name` (commands/catalog.ts).
 */
import { KitError } from '../errors.js';
import { configFor, syncSource } from '../config/file.js';
import type { CommonArgs } from '../cli/run.js';

/** What a lock policy may look at: the parsed args and the run's target and configuration. */
export interface LockScope {
  root: string;
  /** The target the command connects to (resolved once per run; resolving it twice is free). */
  targetEnvironment(): string;
}

/**
 * The environment lock a command holds from before it starts until it ends: one run at a time per
 * environment (the `purpose` is written in the lock and shown to a run that finds it taken).
 */
export interface LockPolicy {
  purpose: string;
  /** Whose lock, for the command reference: "the target's environment". */
  describes: string;
  /** The environments to lock for these parsed args; empty for none. */
  environments(args: CommonArgs & Record<string, unknown>, scope: LockScope): string[];
}

export interface ScriptEntry {
  /** The name users type after `pnpm`, e.g. "db:backup:auto". */
  name: string;
  /** Arguments package.json passes before the user's own, e.g. ["--type", "auto", "--quiet"]. */
  fixedArgs?: readonly string[];
}

export interface MenuEntry {
  title: string;
  /** Shown only when the environment is not protected, or only when there is another environment. */
  when?: 'unprotected' | 'several-environments';
}

export interface ConsoleEntry {
  /** The word typed at the console prompt. */
  word: string;
}

export interface Registration {
  /** scripts/<entry>.ts, and what the launcher is given: `node scripts/kit.mjs -- <entry>`. */
  entry: string;
  /** `Command.name` of the command the entry runs; undefined for an entry that is not a `Command` (menu, demo, bench, tools). */
  command?: string;
  /** One line for the command table. */
  summary: string;
  scripts: readonly ScriptEntry[];
  /** Run by PostgreSQL (archive_command / restore_command) rather than by people: no pnpm script. */
  serverSide?: boolean;
  /** A tool for working on the kit itself (not a user command): not in the command reference. */
  tool?: boolean;
  lock?: LockPolicy;
  menu?: MenuEntry;
  console?: ConsoleEntry;
}

/** Lock the environment of the target the command connects to. */
const targetLock = (purpose: string): LockPolicy => ({ purpose, describes: "the target's environment", environments: (_args, scope) => [scope.targetEnvironment()] });

/** Lock the environment --env names ("default" without it): for commands that never connect. */
const envFlagLock = (purpose: string, skip?: { flag: string; when: (args: Record<string, unknown>) => boolean }): LockPolicy => ({
  purpose,
  describes: `the environment \`--env\` names${skip ? ` (not with \`${skip.flag}\`)` : ''}`,
  environments: (args) => (skip?.when(args) ? [] : [args.env ?? 'default']),
});

/**
 * sync and refresh lock their target; sync, which takes a fresh backup of its source, locks the
 * source as well, for the whole run (a backup there must not start between the two).
 */
const syncLock = (purpose: string, fresh: boolean): LockPolicy => ({
  purpose,
  describes: fresh ? 'the target environment and the source environment' : 'the target environment',
  environments(args, scope) {
    const target = scope.targetEnvironment();
    if (args.fresh !== true) return [target];
    const source = syncSource(configFor(scope.root), args.from as string | undefined);
    // The same environment on both sides is the command's own error to report, not a lock clash.
    return source === target ? [target] : [target, source];
  },
});

export const REGISTRY: readonly Registration[] = [
  { entry: 'db', summary: 'an interactive menu over the everyday commands (needs a terminal)', scripts: [{ name: 'db' }] },
  {
    entry: 'pg-backup',
    command: 'backup',
    summary: 'back up a database: every format from one snapshot, checked, with its .info',
    scripts: [{ name: 'db:backup' }, { name: 'db:backup:auto', fixedArgs: ['--type', 'auto', '--quiet'] }, { name: 'db:backup:pre-migrate', fixedArgs: ['--type', 'pre-migrate'] }],
    lock: targetLock('backup'),
    menu: { title: 'Back up' },
    console: { word: 'backup' },
  },
  { entry: 'backup-physical', command: 'backup-physical', summary: 'a physical base backup (pg_basebackup) with the WAL the kit archives', scripts: [{ name: 'db:backup:physical' }] },
  {
    entry: 'migrate-safe',
    command: 'migrate-safe',
    summary: 'back up, migrate, and restore the backup if the migration fails',
    scripts: [{ name: 'db:migrate:safe' }],
    lock: targetLock('migrate-safe'),
  },
  {
    entry: 'pg-restore',
    command: 'restore',
    summary: 'restore a backup: checked first, confirmed, a safety backup taken, all-or-nothing',
    scripts: [{ name: 'db:restore' }],
    lock: targetLock('restore'),
    menu: { title: 'Restore a backup (pick from a list)' },
  },
  { entry: 'restore-physical', command: 'restore-physical', summary: 'restore a physical backup to a new data directory, to a point in time', scripts: [{ name: 'db:restore:physical' }] },
  { entry: 'wal-status', command: 'wal-status', summary: 'the state of the WAL archive: newest segment, gaps, lag', scripts: [{ name: 'db:wal:status' }] },
  { entry: 'wal-push', command: 'wal-push', summary: "archive one WAL segment (PostgreSQL's archive_command)", scripts: [], serverSide: true },
  { entry: 'wal-fetch', command: 'wal-fetch', summary: "fetch one WAL segment back (PostgreSQL's restore_command)", scripts: [], serverSide: true },
  {
    entry: 'verify',
    command: 'verify',
    summary: 'verify backups: checksums, readability, and (--deep) a restore into a scratch database',
    scripts: [{ name: 'db:verify' }],
    menu: { title: 'Verify the newest backup (deep)' },
  },
  { entry: 'verify-physical', command: 'verify-physical', summary: 'prove a physical backup recovers, WAL included', scripts: [{ name: 'db:verify:physical' }] },
  { entry: 'list', command: 'list', summary: 'list the backups of an environment', scripts: [{ name: 'db:list' }], menu: { title: 'List backups' }, console: { word: 'list' } },
  {
    entry: 'retention',
    command: 'retention',
    summary: 'delete the backups the retention policy no longer keeps (--dry-run shows the plan)',
    scripts: [{ name: 'db:retention' }],
    // A dry run only reads: it may run beside a backup.
    lock: envFlagLock('retention', { flag: '--dry-run', when: (args) => args.dryRun === true }),
    menu: { title: 'Retention: show the plan, then apply it' },
  },
  { entry: 'push', command: 'push', summary: "upload local backups to the environment's remote", scripts: [{ name: 'db:push' }], lock: envFlagLock('push') },
  { entry: 'pull', command: 'pull', summary: "download one backup from the environment's remote", scripts: [{ name: 'db:pull' }], lock: envFlagLock('pull') },
  { entry: 'retention-physical', command: 'retention-physical', summary: 'delete the physical backups and WAL the policy no longer keeps', scripts: [{ name: 'db:retention:physical' }] },
  {
    entry: 'drop-all',
    command: 'drop',
    summary: 'drop everything in a database (a backup is taken first)',
    scripts: [{ name: 'db:drop' }],
    lock: targetLock('drop'),
    menu: { title: 'Drop everything (a backup is taken first)', when: 'unprotected' },
  },
  {
    entry: 'sync',
    command: 'sync',
    summary: 'a fresh backup of one environment restored into another (prod → dev)',
    scripts: [{ name: 'db:sync' }],
    lock: syncLock('sync', true),
    menu: { title: 'Sync from another environment', when: 'several-environments' },
  },
  { entry: 'refresh', command: 'refresh', summary: "another environment's newest existing backup restored into this one", scripts: [{ name: 'db:refresh' }], lock: syncLock('refresh', false) },
  { entry: 'deps', command: 'deps', summary: 'check the client tools against every configured server', scripts: [{ name: 'db:deps' }], menu: { title: 'Check client tools' } },
  { entry: 'db-export', command: 'export', summary: 'export tables as CSV from one snapshot (full or differential)', scripts: [{ name: 'db:export' }], lock: targetLock('export'), console: { word: 'export' } },
  { entry: 'db-import', command: 'import', summary: 'load an export (and its differentials) back, in one transaction', scripts: [{ name: 'db:import' }], lock: targetLock('import'), console: { word: 'import' } },
  { entry: 'db-sql', command: 'sql', summary: 'run SQL: read-only unless --write, destructive statements confirmed', scripts: [{ name: 'db:sql' }] },
  { entry: 'db-console', command: 'console', summary: 'an interactive console: backup, export, import, list and sql', scripts: [{ name: 'db:console' }] },
  { entry: 'keygen', command: 'keygen', summary: 'make an age key pair for encrypted backups', scripts: [{ name: 'db:keygen' }] },
  { entry: 'demo', summary: 'the whole story on a throw-away cluster: backup, verify, disaster, restore', scripts: [{ name: 'demo' }] },
  { entry: 'bench', summary: 'measure the kit against the raw PostgreSQL tools', scripts: [{ name: 'bench' }] },
  { entry: 'docs-reference', summary: 'write docs/reference/ from the registry, the configuration schema and the error table', scripts: [{ name: 'docs:reference' }], tool: true },
];

/** package.json scripts that are not the kit's commands: the application's and the project's own. */
export const OTHER_SCRIPTS: readonly string[] = ['db:migrate', 'typecheck', 'test', 'test:unit', 'test:integration', 'test:app'];

export function registrationOf(entry: string): Registration {
  const found = REGISTRY.find((r) => r.entry === entry);
  if (!found) throw new KitError('INTERNAL', `No command "${entry}" in the registry (scripts/lib/commands/registry.ts).`);
  return found;
}

/** The registration of a `Command` by its name; undefined for a command nobody registered. */
export function registrationOfCommand(name: string): Registration | undefined {
  return REGISTRY.find((r) => r.command === name);
}

/** What package.json runs for one script: the launcher, the entry, then the fixed arguments. */
export function packageScript(registration: Registration, script: ScriptEntry): string {
  return ['node scripts/kit.mjs --', registration.entry, ...(script.fixedArgs ?? [])].join(' ');
}

/** The pnpm script people type for an entry (its first, the one without fixed arguments). */
export function scriptName(entry: string): string {
  const registration = registrationOf(entry);
  const plain = registration.scripts.find((s) => !s.fixedArgs?.length) ?? registration.scripts[0];
  if (!plain) throw new KitError('INTERNAL', `The command "${entry}" has no pnpm script.`);
  return plain.name;
}
