/**
 * `pnpm db`: a menu over every command, for people at a terminal. Each choice says exactly which
 * command it is about to run, then runs it as a child on the same terminal, so the command's own
 * prompts, pickers and confirmations work unchanged. Ctrl-C at the menu leaves with 130.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { KitError, EXIT_CODES } from '../errors.js';
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

function runChild(root: string, script: string, args: string[]): Promise<number> {
  return new Promise((resolve) => {
    // The child owns the terminal while it runs; a Ctrl-C is its to handle.
    const ignore = () => undefined;
    process.on('SIGINT', ignore);
    const child = spawn(process.execPath, [LAUNCHER, '--', script, ...args], { cwd: root, stdio: 'inherit' });
    child.once('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

const shown = (script: string, args: string[]) => {
  const name = { 'pg-backup': 'db:backup', 'pg-restore': 'db:restore', 'drop-all': 'db:drop' }[script] ?? `db:${script}`;
  return `pnpm ${name}${args.length ? ` -- ${args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}` : ''}`;
};

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
    let env = await pickEnvironment('Which environment?');
    for (;;) {
      const guarded = isProtected(configFor(root), env);
      const envArgs = env === 'default' ? [] : ['--env', env];
      const choices: Choice[] = [
        { title: 'Back up', value: 'backup' },
        { title: 'Restore a backup (pick from a list)', value: 'restore' },
        { title: 'Verify the newest backup (deep)', value: 'verify' },
        { title: 'List backups', value: 'list' },
        { title: 'Retention: show the plan, then apply it', value: 'retention' },
        ...(guarded ? [] : [{ title: 'Drop everything (a backup is taken first)', value: 'drop' }]),
        ...(environments.length > 1 ? [{ title: 'Sync from another environment', value: 'sync' }, { title: 'Switch environment', value: 'switch' }] : []),
        { title: 'Check client tools', value: 'deps' },
        { title: 'Quit', value: 'quit' },
      ];
      const action = (await ask({ type: 'select', message: `pnpm db · ${env}${guarded ? ' (protected)' : ''} · what next?`, choices })) as string;
      let script: string | undefined;
      let args: string[] = [];
      switch (action) {
        case 'quit':
          return 0;
        case 'switch':
          env = await pickEnvironment('Which environment?');
          continue;
        case 'backup': {
          const type = (await ask({ type: 'text', message: 'Backup type', initial: 'manual', validate: (v: string) => /^[a-z0-9][a-z0-9-]*$/.test(v) || 'lower-case letters, digits and -' })) as string;
          const description = (await ask({ type: 'text', message: 'Description', initial: 'Manual backup' })) as string;
          [script, args] = ['pg-backup', [type, description, ...envArgs]];
          break;
        }
        case 'restore':
          [script, args] = ['pg-restore', envArgs];
          break;
        case 'verify':
          [script, args] = ['verify', ['--latest', '--deep', ...envArgs]];
          break;
        case 'list':
          [script, args] = ['list', envArgs];
          break;
        case 'retention': {
          say(`\n▶ ${shown('retention', ['--dry-run', ...envArgs])}`);
          if ((await runChild(root, 'retention', ['--dry-run', ...envArgs])) !== 0) continue;
          if (!(await ask({ type: 'confirm', message: 'Apply this plan?', initial: false }))) continue;
          [script, args] = ['retention', envArgs];
          break;
        }
        case 'drop':
          [script, args] = ['drop-all', envArgs];
          break;
        case 'sync': {
          const from = await pickEnvironment(`Sync ${env} from which environment?`, env);
          [script, args] = ['sync', ['--from', from, ...envArgs]];
          break;
        }
        case 'deps':
          [script, args] = ['deps', []];
          break;
      }
      if (!script) continue;
      say(`\n▶ ${shown(script, args)}`);
      const code = await runChild(root, script, args);
      if (code !== 0) say(`(exited with status ${code})`);
      say('');
    }
  } catch (error) {
    if (error instanceof KitError && error.code === 'INTERRUPTED') return EXIT_CODES.INTERRUPTED;
    throw error;
  }
}
