/** `db:list`: the complete backups of an environment, newest first, and what is not a backup. */
import { stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { formatBytes } from '../text/units.js';
import { fromTheFuture, takenAt } from '../store/catalog.js';
import { listPhysical, type PhysicalListing } from '../physical/listing.js';
import { formatAge, formatTimestamp } from '../text/time.js';
import { isRemoteLocation } from '../config/remote.js';

export interface ListArgs extends CommonArgs {
  type: string | undefined;
}

/** A row of db:list: the shape physical listings share, plus what only logical backups have. */
export interface ListedBackup extends PhysicalListing {
  /** age-encrypted: restoring it needs the identity. */
  encrypted?: boolean;
  /** Dated after now: taken under a wrong clock; --latest passes it over. */
  fromTheFuture?: boolean;
  /** The server that served it: MariaDB or MySQL for engine mysql (absent for PostgreSQL), and its version. */
  flavour?: string;
  serverVersion?: string;
}

export interface ListResult {
  environment: string;
  dir: string;
  backups: ListedBackup[];
  leftovers: Array<{ file: string; reason: string; bytes: number; kind: string }>;
}

export const listCommand: Command<ListArgs, ListResult> = {
  name: 'list',
  synopsis: 'pnpm db:list -- [--env <name>] [--type <type>] [--json]',
  description: `
The complete backups of an environment, newest first: id, type, when, age, size, formats and the
last verification. Partial or orphaned files (no readable .info) are listed separately; they are
not backups, and pnpm db:retention removes them. With a remote (object storage), WHERE says
whether each backup is local, remote or both, and remote leftovers (uploads without .info,
unfinished multipart uploads) are listed too.`,
  // It reads backups/<env>/ (and the bucket) and never connects.
  shared: ['env', ...REMOTE_OPTIONS],
  options: { type: { type: 'string', arg: '<type>', help: 'only backups of this type' } },
  parse(values, positionals, common) {
    if (positionals.length) throw usageError([`db:list takes no arguments, got ${positionals.join(' ')}.`], 'pnpm db:list --');
    return { ...common, type: stringValue(values, 'type') };
  },
  async run(args, ctx) {
    const { name: environment, store } = ctx.environment(args.env);
    const catalog = await store.list();
    const now = ctx.now().getTime();
    const entries = catalog.complete.filter((e) => args.type === undefined || e.info.type === args.type);
    const backups = await Promise.all(
      entries.map(async (e) => {
        const v = await store.readVerification(e);
        return {
          id: e.id,
          type: e.info.type,
          description: e.info.description,
          takenAt: takenAt(e.info),
          ageMs: now - Date.parse(takenAt(e.info)),
          bytes: e.info.artifacts.reduce((n, a) => n + a.bytes, 0),
          // A directory export lists each of its files as an artifact: shown once, as "directory".
          formats: [...new Set(e.info.artifacts.map((a) => (a.format === 'export-file' ? 'directory' : a.format)).filter((f) => f !== 'globals'))],
          encrypted: e.info.encryption !== undefined,
          verification: v ? { level: v.level, ok: v.ok, at: v.at } : undefined,
          info: e.infoLocation,
          store: e.storeKind,
          fromTheFuture: fromTheFuture(e.info, ctx.now()),
          engine: e.info.engine,
          ...(e.info.database.flavour ? { flavour: e.info.database.flavour } : {}),
          serverVersion: e.info.database.serverVersion,
        };
      }),
    );
    const leftovers = catalog.leftovers.map((l) => ({ file: l.location, reason: l.reason, bytes: l.bytes, kind: l.kind }));
    // Physical base backups live beside the logical ones (backups/<env>/physical/).
    const physical = await listPhysical(ctx, environment, now);
    const all = [...backups, ...physical.backups.filter((b) => args.type === undefined || b.type === args.type)].sort((a, b) => b.takenAt.localeCompare(a.takenAt));
    return { environment, dir: store.where, backups: all, leftovers: [...leftovers, ...physical.leftovers] };
  },
  render(result) {
    if (result.backups.length === 0 && result.leftovers.length === 0) return [`No backups in ${result.dir}. Take one with pnpm db:backup.`];
    const remote = result.dir.includes('://');
    // One environment is one database, so one engine; a column only when backups of two are here.
    const engines = new Set(result.backups.map((b) => b.engine)).size > 1;
    const rows = result.backups.map((b) => [
      b.id,
      b.type,
      formatTimestamp(b.takenAt),
      b.fromTheFuture ? 'FUTURE' : humanAge(b.ageMs),
      formatBytes(b.bytes),
      b.formats.join(',') + (b.encrypted ? ' (age)' : ''),
      b.verification ? `${b.verification.ok ? 'passed' : 'FAILED'} (${b.verification.level})` : '-',
      ...(remote ? [b.store] : []),
      ...(engines ? [b.flavour ?? b.engine] : []),
    ]);
    const header = ['ID', 'TYPE', 'TAKEN AT (UTC)', 'AGE', 'SIZE', 'FORMATS', 'VERIFIED', ...(remote ? ['WHERE'] : []), ...(engines ? ['ENGINE'] : [])];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
    const out = [`Backups in ${result.dir} (${result.backups.length}, newest first):`, line(header), ...rows.map(line)];
    const future = result.backups.filter((b) => b.fromTheFuture);
    if (future.length) out.push('', `warning: ${future.map((b) => b.id).join(', ')} ${future.length === 1 ? 'is' : 'are'} dated in the future (was a clock wrong?); --latest passes ${future.length === 1 ? 'it' : 'them'} over and retention keeps ${future.length === 1 ? 'it' : 'them'} without counting.`);
    if (result.leftovers.length) {
      out.push('', 'Not backups (no usable .info; pnpm db:retention removes only what interrupted runs left):');
      for (const l of result.leftovers) out.push(`  ${isRemoteLocation(l.file) ? l.file : baseName(l.file)}  ${formatBytes(l.bytes)}  ${l.reason}`);
    }
    return out;
  },
};

/** "45s", "41m", "3h 05m", "12d": an age of `ms`, by the kit's one age formatter. */
export function humanAge(ms: number): string {
  return formatAge(new Date(0), new Date(Math.max(0, ms)));
}

/** The last part of a path or URL. */
function baseName(location: string): string {
  return location.slice(location.lastIndexOf('/') + 1);
}
