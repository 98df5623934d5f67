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

const shown = (script: string, args: string[]) => {
  const name = { 'pg-backup': 'db:backup', 'pg-restore': 'db:restore', 'drop-all': 'db:drop' }[script] ?? `db:${script}`;
  return `pnpm ${name}${args.length ? ` -- ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}` : ''}`;
};

type Step = { script: string; args: string[] } | 'quit' | 'switch' | undefined;

interface Menu {
  root: string;
  environments: string[];
  say(line: string): void;
  pickEnvironment(message: string, exclude?: string): Promise<string>;
}

function choicesFor(menu: Menu, guarded: boolean): Choice[] {
  return [
    { title: 'Back up', value: 'backup' },
    { title: 'Restore a backup (pick from a list)', value: 'restore' },
    { title: 'Verify the newest backup (deep)', value: 'verify' },
    { title: 'List backups', value: 'list' },
    { title: 'Retention: show the plan, then apply it', value: 'retention' },
    ...(guarded ? [] : [{ title: 'Drop everything (a backup is taken first)', value: 'drop' }]),
    ...(menu.environments.length > 1 ? [{ title: 'Sync from another environment', value: 'sync' }, { title: 'Switch environment', value: 'switch' }] : []),
    { title: 'Check client tools', value: 'deps' },
    { title: 'Quit', value: 'quit' },
  ];
}

/** What one menu choice runs (asking what it needs first); undefined to show the menu again. */
async function stepFor(menu: Menu, action: string, env: string): Promise<Step> {
  const envArgs = env === 'default' ? [] : ['--env', env];
  switch (action) {
    case 'quit':
    case 'switch':
      return action;
    case 'backup': {
      const type = (await ask({ type: 'text', message: 'Backup type', initial: 'manual', validate: (v: string) => /^[a-z0-9][a-z0-9-]*$/.test(v) || 'lower-case letters, digits and -' })) as string;
      const description = (await ask({ type: 'text', message: 'Description', initial: 'Manual backup' })) as string;
      return { script: 'pg-backup', args: [type, description, ...envArgs] };
    }
    case 'restore':
      return { script: 'pg-restore', args: envArgs };
    case 'verify':
      return { script: 'verify', args: ['--latest', '--deep', ...envArgs] };
    case 'list':
      return { script: 'list', args: envArgs };
    case 'retention': {
      menu.say(`\n▶ ${shown('retention', ['--dry-run', ...envArgs])}`);
      if ((await runChild(menu.root, 'retention', ['--dry-run', ...envArgs])) !== 0) return undefined;
      if (!(await ask({ type: 'confirm', message: 'Apply this plan?', initial: false }))) return undefined;
      return { script: 'retention', args: envArgs };
    }
    case 'drop':
      return { script: 'drop-all', args: envArgs };
    case 'sync':
      return { script: 'sync', args: ['--from', await menu.pickEnvironment(`Sync ${env} from which environment?`, env), ...envArgs] };
    case 'deps':
      return { script: 'deps', args: [] };
    default:
      return undefined;
  }
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
      const action = (await ask({ type: 'select', message: `pnpm db · ${env}${guarded ? ' (protected)' : ''} · what next?`, choices: choicesFor(state, guarded) })) as string;
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
