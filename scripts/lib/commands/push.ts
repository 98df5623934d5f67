/** `db:push` and `db:pull`: copy backups to and from the environment's remote (offsite/copies.ts). */
import { usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { formatBytes } from '../text/units.js';
import { pull, push, type CopyResult } from '../offsite/copies.js';
import { localPhysicalIds, pushPhysical } from '../physical/push.js';

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
Uploads this machine's complete backups (or the ones named) to the environment's remote,
physical ones and the archived WAL the remote lacks included. A
backup already there with the same artifacts and sha256 is skipped; each copy is proven against
its .info and its .info goes up last. Also cleans up what interrupted uploads left behind.`,
  shared: ['env', ...REMOTE_OPTIONS],
  options: {},
  parse(_values, positionals, common) {
    return { ...common, ids: positionals };
  },
  async run(args, ctx) {
    // Physical backups (and the WAL archive) live beside the logical ones: both go up.
    const physical = localPhysicalIds(ctx, args.env ?? 'default');
    const logicalIds = args.ids.filter((id) => !physical.has(id));
    const physicalIds = args.ids.filter((id) => physical.has(id));
    const result = args.ids.length === 0 || logicalIds.length ? await push(ctx, args.env, logicalIds) : undefined;
    const up = args.ids.length === 0 || physicalIds.length ? await pushPhysical(ctx, args.env ?? 'default', physicalIds) : undefined;
    const base: CopyResult = result ?? { environment: args.env ?? 'default', from: up!.from, to: up!.to, copied: [], skipped: [], cleaned: [] };
    return { ...base, copied: [...base.copied, ...(up?.copied ?? [])], skipped: [...base.skipped, ...(up?.skipped ?? [])], walUploaded: up?.walUploaded ?? 0 };
  },
  render: (result) => [...render(result, 'uploaded '), ...((result as CopyResult & { walUploaded?: number }).walUploaded ? [`${(result as CopyResult & { walUploaded: number }).walUploaded} archived WAL file(s) uploaded.`] : [])],
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
  run: (args, ctx) => pull(ctx, args.env, args.ids),
  render: (result) => render(result, 'downloaded'),
  logFields: (result) => ({ copied: result.copied.map((c) => c.id), skipped: result.skipped.length }),
};
