/**
 * `pnpm db`: a menu over every command, for people at a terminal. Each choice says exactly which
 * command it is about to run, then runs it as a child on the same terminal, so the command's own
 * prompts, pickers and confirmations work unchanged. Ctrl-C at the menu leaves with 130.
 */
import path from 'node:path';
import { KitError, EXIT_CODES } from '../errors.js';
import { runToExit } from '../proc/process.js';
import { ask, isInteractive } from '../cli/prompt.js';
import { configuredEnvironments } from '../deps/deps.js';
import { configFor, isProtected } from '../config/file.js';
import { REGISTRY, scriptName } from './registry.js';

export const MENU_USAGE = `pnpm db opens an interactive menu, which needs a terminal. Without one, run the commands directly:
  pnpm db:backup, db:restore, db:verify, db:list, db:retention, db:sync, db:refresh, db:drop, db:deps
(each takes --help).
`;

interface Choice {
  title: string;
  value: string;
}

/** The launcher beside the running entry file (scripts/kit.mjs sets argv[1] to it). */
const LAUNCHER = path.join(path.dirname(process.argv[1] ?? 'scripts/db.ts'), 'kit.mjs');

/** Run one command on this terminal: it prints to the terminal, nothing is captured. */
async function runChild(root: string, script: string, args: string[]): Promise<number> {
  // The child owns the terminal while it runs; a Ctrl-C is its to handle.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return (await runToExit(process.execPath, [LAUNCHER, '--', script, ...args], { cwd: root, stdio: 'inherit' })).code;
  } finally {
    process.off('SIGINT', ignore);
  }
}

const shown = (entry: string, args: string[]) =>
  `pnpm ${scriptName(entry)}${args.length ? ` -- ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}` : ''}`;

type Step = { script: string; args: string[] } | 'quit' | 'switch' | undefined;

interface Menu {
  root: string;
  environments: string[];
  say(line: string): void;
  pickEnvironment(message: string, exclude?: string): Promise<string>;
}

/** The menu's choices: the registry's menu entries (each runs its entry), in the registry's order. */
export function choicesFor(environments: readonly string[], guarded: boolean): Choice[] {
  const choices: Choice[] = [];
  for (const registration of REGISTRY) {
    const entry = registration.menu;
    if (!entry || (entry.when === 'unprotected' && guarded) || (entry.when === 'several-environments' && environments.length <= 1)) continue;
    choices.push({ title: entry.title, value: registration.entry });
    // Switching belongs beside the choice that needs another environment.
    if (entry.when === 'several-environments') choices.push({ title: 'Switch environment', value: 'switch' });
  }
  return [...choices, { title: 'Quit', value: 'quit' }];
}

/** The arguments one menu choice runs its entry with (asking what it needs first); undefined to show the menu again. */
async function argsFor(menu: Menu, entry: string, env: string): Promise<string[] | undefined> {
  const envArgs = env === 'default' ? [] : ['--env', env];
  switch (entry) {
    case 'pg-backup': {
      const type = (await ask({ type: 'text', message: 'Backup type', initial: 'manual', validate: (v: string) => /^[a-z0-9][a-z0-9-]*$/.test(v) || 'lower-case letters, digits and -' })) as string;
      const description = (await ask({ type: 'text', message: 'Description', initial: 'Manual backup' })) as string;
      return [type, description, ...envArgs];
    }
    case 'verify':
      return ['--latest', '--deep', ...envArgs];
    case 'retention': {
      menu.say(`\n▶ ${shown('retention', ['--dry-run', ...envArgs])}`);
      if ((await runChild(menu.root, 'retention', ['--dry-run', ...envArgs])) !== 0) return undefined;
      if (!(await ask({ type: 'confirm', message: 'Apply this plan?', initial: false }))) return undefined;
      return envArgs;
    }
    case 'sync':
      return ['--from', await menu.pickEnvironment(`Sync ${env} from which environment?`, env), ...envArgs];
    case 'deps':
      return [];
    default:
      return envArgs;
  }
}

/** What one menu choice runs: the entry the choice names, never another. */
async function stepFor(menu: Menu, action: string, env: string): Promise<Step> {
  if (action === 'quit' || action === 'switch') return action;
  if (!REGISTRY.some((r) => r.entry === action && r.menu)) return undefined;
  const args = await argsFor(menu, action, env);
  return args === undefined ? undefined : { script: action, args };
}

export async function menu(root: string): Promise<number> {
  if (!isInteractive()) {
    process.stderr.write(MENU_USAGE);
    return EXIT_CODES.USAGE;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  try {
    const environments = configuredEnvironments(root);
    if (environments.length === 0) say('No database configured yet: copy packages/database/.env.example to packages/database/.env and set DATABASE_URL.');
    const pickEnvironment = async (message: string, exclude?: string) => {
      const options = environments.filter((e) => e !== exclude);
      if (options.length <= 1) return options[0] ?? 'default';
      return (await ask({ type: 'select', message, choices: options.map((e) => ({ title: `${e}${isProtected(configFor(root), e) ? ' (protected)' : ''}`, value: e })) })) as string;
    };
    const state: Menu = { root, environments, say, pickEnvironment };
    let env = await pickEnvironment('Which environment?');
    for (;;) {
      const guarded = isProtected(configFor(root), env);
      const action = (await ask({ type: 'select', message: `pnpm db · ${env}${guarded ? ' (protected)' : ''} · what next?`, choices: choicesFor(environments, guarded) })) as string;
      const step = await stepFor(state, action, env);
      if (step === 'quit') return 0;
      if (step === 'switch') env = await pickEnvironment('Which environment?');
      if (step === undefined || step === 'switch') continue;
      say(`\n▶ ${shown(step.script, step.args)}`);
      const code = await runChild(root, step.script, step.args);
      if (code !== 0) say(`(exited with status ${code})`);
      say('');
    }
  } catch (error) {
    if (error instanceof KitError && error.code === 'INTERRUPTED') return EXIT_CODES.INTERRUPTED;
    throw error;
  }
}
