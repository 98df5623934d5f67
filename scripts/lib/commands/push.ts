/** `db:push` and `db:pull`: copy backups to and from the environment's remote (offsite/copies.ts). */
import { usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { formatBytes } from '../format/units.js';
import { pull, push, type CopyResult } from '../offsite/copies.js';

export interface CopyArgs extends CommonArgs {
  ids: string[];
}

function render(result: CopyResult, verb: string): string[] {
  const out = result.copied.map((c) => `${verb}  ${c.id}  ${formatBytes(c.bytes)}`);
  for (const s of result.skipped) out.push(`skipped   ${s.id}  ${s.reason}`);
  for (const c of result.cleaned) out.push(`cleaned   ${c}  left by an interrupted upload`);
  out.push(`${result.copied.length} copied, ${result.skipped.length} already there, from ${result.from} to ${result.to}.`);
  return out;
}

export const pushCommand: Command<CopyArgs, CopyResult> = {
  name: 'push',
  synopsis: 'pnpm db:push -- [backup id …] [--env <name>]',
  description: `
Uploads this machine's complete backups (or the ones named) to the environment's remote. A
backup already there with the same artifacts and sha256 is skipped; each copy is proven against
its .info and its .info goes up last. Also cleans up what interrupted uploads left behind.`,
  shared: ['env', ...REMOTE_OPTIONS],
  options: {},
  parse(_values, positionals, common) {
    return { ...common, ids: positionals };
  },
  run: (args, ctx) => push(ctx, args.env, args.ids),
  render: (result) => render(result, 'uploaded '),
  logFields: (result) => ({ copied: result.copied.map((c) => c.id), skipped: result.skipped.length }),
};

export const pullCommand: Command<CopyArgs, CopyResult> = {
  name: 'pull',
  synopsis: 'pnpm db:pull -- <backup id> [--env <name>]',
  description: `
Downloads one backup from the environment's remote into backups/<env>/, every byte checked
against its .info, the .info written last. Skipped when an identical copy is already here.`,
  shared: ['env', ...REMOTE_OPTIONS],
  options: {},
  parse(_values, positionals, common) {
    if (positionals.length !== 1) throw usageError([`db:pull takes one backup id, got ${positionals.length}.`], 'pnpm db:pull --');
    return { ...common, ids: positionals };
  },
  run: (args, ctx) => pull(ctx, args.env, args.ids[0]!),
  render: (result) => render(result, 'downloaded'),
  logFields: (result) => ({ copied: result.copied.map((c) => c.id), skipped: result.skipped.length }),
};
