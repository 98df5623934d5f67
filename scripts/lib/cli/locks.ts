/**
 * The lock a command holds, taken by runCli as the registry declares it: once, before the command
 * starts, and released when it ends (whatever way it ends). Two runs on one environment are kept
 * apart here alone; the domain functions a command calls (a restore's safety backup, a sync's
 * fresh backup of its source) never lock.
 */
import type { Lock } from '../store/store.js';
import { registrationOfCommand } from '../commands/registry.js';
import type { CliContext, CommonArgs } from './run.js';

/** Take every lock the command `name` declares for these args; returns what releases them. */
export async function takeCommandLocks(name: string, args: CommonArgs, ctx: CliContext): Promise<() => void> {
  const policy = registrationOfCommand(name)?.lock;
  if (!policy) return () => undefined;
  const environments = policy.environments(args as CommonArgs & Record<string, unknown>, {
    root: ctx.root,
    targetEnvironment: () => ctx.target(args).env,
  });
  const held: Lock[] = [];
  const release = () => {
    for (const lock of held.reverse()) lock.release();
  };
  try {
    for (const environment of new Set(environments)) held.push(await ctx.environment(environment).repository.lock(policy.purpose));
  } catch (error) {
    release();
    throw error;
  }
  return release;
}
