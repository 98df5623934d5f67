import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OTHER_SCRIPTS, REGISTRY, packageScript, registrationOf, scriptName, type Registration } from '../../lib/commands/registry.js';
import { COMMANDS, commandNamed } from '../../lib/commands/catalog.js';
import { MENU_USAGE, choicesFor } from '../../lib/commands/menu.js';
import { CHILDREN, CONSOLE_HELP } from '../../lib/commands/console.js';
import { runCli, type CliIo, type Command, type CommonArgs } from '../../lib/cli/run.js';
import { retentionCommand } from '../../lib/commands/retention.js';
import { LOCK_SCHEMA } from '../../lib/format/lock-file.js';

const root = path.resolve(import.meta.dirname, '../../..');
const scriptsDir = path.join(root, 'scripts');
const packageScripts = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;

/** Every way package.json and the registry disagree, one line each (empty when they agree). */
function packageProblems(scripts: Record<string, string>, registry: readonly Registration[]): string[] {
  const problems: string[] = [];
  const declared = new Map(registry.flatMap((r) => r.scripts.map((s) => [s.name, packageScript(r, s)] as const)));
  for (const [name, command] of Object.entries(scripts)) {
    if (OTHER_SCRIPTS.includes(name)) continue;
    const wanted = declared.get(name);
    if (wanted === undefined) problems.push(`package.json script "${name}" has no registry entry`);
    else if (wanted !== command) problems.push(`package.json script "${name}" runs "${command}", the registry says "${wanted}"`);
  }
  for (const name of declared.keys()) if (!(name in scripts)) problems.push(`the registry's script "${name}" is missing from package.json`);
  return problems;
}

/** The command an entry file hands to runCli: the imported name and the module it comes from. */
function entryCommand(entry: string): { exported: string; module: string } | undefined {
  const text = readFileSync(path.join(scriptsDir, `${entry}.ts`), 'utf8');
  const ran = /runCli\((\w+)/.exec(text)?.[1];
  if (!ran) return undefined;
  const from = new RegExp(`import \\{[^}]*\\b${ran}\\b[^}]*\\} from '\\./lib/commands/([\\w-]+)\\.js'`).exec(text)?.[1];
  return { exported: ran, module: from ?? '(not imported from lib/commands)' };
}

describe('the command registry', () => {
  it('package.json runs exactly the registry\'s scripts, each through the launcher with its fixed arguments', () => {
    expect(packageProblems(packageScripts, REGISTRY)).toEqual([]);
  });

  it('would catch a script added to package.json alone, a changed one, and one removed (the check can fail)', () => {
    const tampered: Record<string, string> = { ...packageScripts, 'db:new': 'node scripts/kit.mjs -- new', 'db:backup:auto': 'node scripts/kit.mjs -- pg-backup --type auto' };
    delete tampered['db:list'];
    expect(packageProblems(tampered, REGISTRY)).toEqual([
      'package.json script "db:backup:auto" runs "node scripts/kit.mjs -- pg-backup --type auto", the registry says "node scripts/kit.mjs -- pg-backup --type auto --quiet"',
      'package.json script "db:new" has no registry entry',
      'the registry\'s script "db:list" is missing from package.json',
    ]);
  });

  it('names every entry file once, and every entry it names exists', () => {
    const files = readdirSync(scriptsDir).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
    const entries = REGISTRY.map((r) => r.entry);
    expect(new Set(entries).size).toBe(entries.length);
    expect([...entries].sort()).toEqual(files);
  });

  it.each(REGISTRY.map((r) => [r.entry, r] as const))('scripts/%s.ts runs the command the registry names', async (entry, registration) => {
    const ran = entryCommand(entry);
    if (registration.command === undefined) {
      expect(ran, `${entry}.ts is not a Command in the registry, yet calls runCli`).toBeUndefined();
      return;
    }
    expect(ran, `${entry}.ts should call runCli with the command "${registration.command}"`).toBeDefined();
    const module = (await import(path.join(scriptsDir, 'lib/commands', `${ran!.module}.ts`))) as Record<string, Command<CommonArgs, unknown>>;
    expect(module[ran!.exported]?.name).toBe(registration.command);
  });

  it('the catalog holds exactly the registry\'s commands', () => {
    const named = REGISTRY.flatMap((r) => (r.command ? [r.command] : []));
    expect(COMMANDS.map((c) => c.name).sort()).toEqual([...named].sort());
    for (const name of named) expect(commandNamed(name)?.name).toBe(name);
  });

  it('only a Command can hold a lock, and every people-facing Command has a pnpm script', () => {
    for (const r of REGISTRY) {
      if (r.lock) expect(r.command, `${r.entry} declares a lock but runCli never runs it`).toBeDefined();
      if (!r.serverSide) expect(r.scripts.length, `${r.entry} has no pnpm script`).toBeGreaterThan(0);
    }
  });
});

describe('the menu and the console offer registered commands only', () => {
  const menuEntries = REGISTRY.filter((r) => r.menu);

  it('the menu offers every registered menu entry, titled as registered, and nothing else but switch and quit', () => {
    const all = choicesFor(['dev', 'prod'], false);
    expect(all.map((c) => c.value)).toEqual([...menuEntries.map((r) => r.entry).flatMap((e) => (e === 'sync' ? [e, 'switch'] : [e])), 'quit']);
    for (const choice of all) {
      if (choice.value === 'switch' || choice.value === 'quit') continue;
      expect(choice.title).toBe(REGISTRY.find((r) => r.entry === choice.value)!.menu!.title);
    }
  });

  it('hides drop on a protected environment, and sync with a single environment', () => {
    const values = choicesFor(['dev'], true).map((c) => c.value);
    expect(values).not.toContain('drop-all');
    expect(values).not.toContain('sync');
    expect(values).not.toContain('switch');
    expect(values).toContain('pg-backup');
  });

  it('the menu\'s usage text names registered scripts only', () => {
    const named = [...MENU_USAGE.matchAll(/\bdb:[a-z:]+/g)].map((m) => m[0]);
    const registered = REGISTRY.flatMap((r) => r.scripts.map((s) => s.name));
    expect(named.length).toBeGreaterThan(5);
    for (const name of named) expect(registered, name).toContain(name);
  });

  it('the console runs each registered console word as its entry, completing the command\'s own flags', () => {
    const consoleEntries = REGISTRY.filter((r) => r.console);
    expect(Object.keys(CHILDREN).sort()).toEqual(consoleEntries.map((r) => r.console!.word).sort());
    for (const r of consoleEntries) {
      const child = CHILDREN[r.console!.word]!;
      expect(child.script).toBe(r.entry);
      expect(child.options).toBe(commandNamed(r.command!)!.options);
      expect(CONSOLE_HELP).toContain(`(as pnpm ${scriptName(r.entry)}`);
    }
  });
});

describe('which environments a command locks', () => {
  const scope = { root: mkdtempSync(path.join(tmpdir(), 'pgkit-registry-')), targetEnvironment: () => 'dev' };
  const locks = (entry: string, args: Record<string, unknown>) => registrationOf(entry).lock?.environments({ json: false, quiet: false, progress: true, url: undefined, env: undefined, envFile: undefined, ...args }, scope) ?? [];

  it.each([
    ['pg-backup', {}, ['dev']],
    ['pg-restore', {}, ['dev']],
    ['drop-all', {}, ['dev']],
    ['db-import', {}, ['dev']],
    ['migrate-safe', {}, ['dev']],
    ['sync', { fresh: true, from: 'prod' }, ['dev', 'prod']],
    ['sync', { fresh: true }, ['dev', 'prod']],
    ['sync', { fresh: true, from: 'dev' }, ['dev']],
    ['refresh', { fresh: false, from: 'prod' }, ['dev']],
    ['retention', { env: 'qa', dryRun: false }, ['qa']],
    ['retention', { dryRun: false }, ['default']],
    ['retention', { env: 'qa', dryRun: true }, []],
    ['push', { env: 'qa' }, ['qa']],
    ['list', {}, []],
    ['verify', {}, []],
  ] as const)('%s %j locks %j', (entry, args, expected) => {
    expect(locks(entry, args)).toEqual(expected);
  });
});

describe('runCli holds the lock the registry declares', () => {
  /** A project whose default environment is locked by a live run (this very process). */
  function lockedProject(): string {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-registry-'));
    mkdirSync(path.join(dir, 'backups/default'), { recursive: true });
    const owner = { schema: LOCK_SCHEMA, pid: process.pid, host: hostname(), command: 'backup', startedAt: new Date().toISOString(), token: 'test' };
    writeFileSync(path.join(dir, 'backups/default/.lock'), JSON.stringify(owner));
    return dir;
  }

  async function run(dir: string, argv: string[]) {
    let stderr = '';
    const io: CliIo = { root: dir, env: {}, stdout: () => undefined, stderr: (t) => void (stderr += t) };
    const code = await runCli(retentionCommand, argv, io);
    process.exitCode = 0;
    return { code, stderr };
  }

  it('db:retention meets another run\'s lock → 9, with the owner named; the lock stays the owner\'s', async () => {
    const dir = lockedProject();
    try {
      const { code, stderr } = await run(dir, []);
      expect(stderr).toMatch(/Another run is using environment "default" \(pid \d+ on .*, backup since .*\)\. Wait for it to finish/);
      expect(code).toBe(9);
      expect(existsSync(path.join(dir, 'backups/default/.lock'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('db:retention --dry-run takes no lock, so it runs beside another run', async () => {
    const dir = lockedProject();
    try {
      const { code, stderr } = await run(dir, ['--dry-run']);
      expect(stderr).toBe('');
      expect(code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('releases the lock it took when the command ends', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-registry-'));
    try {
      mkdirSync(path.join(dir, 'backups/default'), { recursive: true });
      expect((await run(dir, [])).code).toBe(0);
      expect(readdirSync(path.join(dir, 'backups/default')).filter((f) => f.startsWith('.lock'))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
