/**
 * pg_dump as a backup's producer: its arguments for one exported snapshot and the backup's scope,
 * and the child that writes one format, to a file it can seek in or to its stdout. Failures come
 * back in the kit's words (dump-failures.ts).
 */
import type { DumpRequest, DumpScope } from '../engine.js';
import { explainDumpFailure } from './dump-failures.js';
import { spawnTool, type RunningTool } from './tools.js';

/** pg_dump's arguments shared by every format of one backup. Pure. */
export function pgDumpArgs(snapshot: string, scope: DumpScope): string[] {
  const args = [
    `--snapshot=${snapshot}`,
    `--lock-wait-timeout=${scope.lockWaitTimeout}`,
    '--no-password',
    ...scope.schemas.map((s) => `--schema=${s}`),
    ...scope.tables.map((t) => `--table=${t}`),
    ...scope.excludeTables.map((t) => `--exclude-table=${t}`),
  ];
  // A pattern that matches nothing must fail the backup, not make an empty one.
  if (scope.tables.length || scope.schemas.length) args.push('--strict-names');
  return args;
}

const FORMAT_ARGS = { plain: '--format=plain', dump: '--format=custom', tar: '--format=tar' } as const;

/** pg_dump writing one format of the snapshot: into `file` when given, else to its stdout. */
export function startDump(request: DumpRequest): RunningTool {
  const args = [FORMAT_ARGS[request.format], ...(request.file ? [`--file=${request.file}`] : []), ...pgDumpArgs(request.snapshot, request.scope)];
  return spawnTool(request.tool, args, { env: request.env, failure: 'PG_DUMP_FAILED', explain: explainDumpFailure });
}
