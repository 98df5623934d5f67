/** What both demos share: the launcher, talking to the person watching, and running the kit. */
import path from 'node:path';
import { $ } from 'zx/core';

// pnpm runs scripts from the repository root; the launcher sits beside the demo's entry file.
export const root = process.cwd();
export const launcher = path.join(path.dirname(process.argv[1] ?? 'scripts/demo.ts'), 'kit.mjs');

export const say = (line: string): void => void process.stdout.write(`\n▶ ${line}\n`);

/** A child that talks to the person watching: its output goes straight to the terminal. */
export async function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const out = await $({ cwd: root, env, stdio: 'inherit', nothrow: true })`${file} ${args}`;
  if (out.exitCode !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited with ${out.exitCode ?? out.signal}`);
}

export type Counts = Record<string, number | string>;

export function showCounts(tables: readonly string[], label: string, c: Counts): void {
  console.log(`  ${label.padEnd(8)} ${tables.map((t) => `${t} ${c[t]}`).join(', ')}`);
}

/**
 * The kit as the person would run it through pnpm, connected through an env file as it would be
 * through packages/database/.env.demo. list reads backups/demo/ and never connects, so it takes
 * neither --env-file nor progress flags.
 */
export function kitRunner(envFile: string): (command: string, args: string[], connects?: boolean) => Promise<void> {
  const kitEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG, ...(process.env.BACKUP_DIR ? { BACKUP_DIR: process.env.BACKUP_DIR } : {}), ...(process.env.LOG_FILE ? { LOG_FILE: process.env.LOG_FILE } : {}) };
  return (command, args, connects = true) => {
    const shown = { 'pg-backup': 'db:backup', 'pg-restore': 'db:restore' }[command] ?? `db:${command}`;
    say(`pnpm ${shown} -- ${[...args, '--env', 'demo'].join(' ')}`);
    return run(process.execPath, [launcher, '--', command, ...args, '--env', 'demo', ...(connects ? ['--env-file', envFile, '--no-progress'] : [])], kitEnv);
  };
}

export function backupsShown(): string {
  return path.relative(root, path.join(process.env.BACKUP_DIR ?? path.join(root, 'backups'), 'demo')) || '.';
}
