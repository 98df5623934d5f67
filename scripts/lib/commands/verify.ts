/** `db:verify`: which backups, which tier, and the report; the work is verifyBackup(). */
import path from 'node:path';
import { KitError } from '../errors.js';
import { failWithReport, stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { targetFromUrl, type Target } from '../config/target.js';
import type { StoredBackup } from '../store/store.js';
import { latestReadable } from '../store/catalog.js';
import { FORMATS, type Format } from '../format/naming.js';
import { verifyBackup, type Verification } from '../verify/verify.js';
import { latestCandidates } from '../restore/source.js';

export interface VerifyArgs extends CommonArgs {
  input: string | undefined;
  latest: boolean;
  all: boolean;
  deep: boolean;
  artifact: Format | undefined;
  identity: string | undefined;
  type: string | undefined;
  includeSafety: boolean;
}

export interface VerifyResult {
  environment: string;
  verified: Verification[];
  ok: boolean;
  durationMs: number;
  peakRssBytes: number;
}

/** The environment's own database, when one is configured: --latest prefers its backups. */
function ownDatabase(args: VerifyArgs, ctx: { target(a: VerifyArgs): Target }): string | undefined {
  try {
    return ctx.target(args).database;
  } catch {
    return undefined; // quick verification needs no database
  }
}

export const verifyCommand: Command<VerifyArgs, VerifyResult> = {
  name: 'verify',
  synopsis: 'pnpm db:verify -- <backup id | .info | --latest | --all> [options]',
  description: `
Checks that backups are intact (quick, the default) or that one restores to the data it recorded
(--deep). The outcome is stored next to each backup as <id>.verify.json and shown by db:list.`,
  notes: 'Exit status: 0 only when every checked artifact passed; the report is printed (or in --json) either way.',
  // --url/--env-file name the server --deep restores on (unless VERIFY_DATABASE_URL is set).
  shared: ['env', 'env-file', 'url', 'no-progress', ...REMOTE_OPTIONS],
  options: {
    'from-remote': { type: 'boolean', help: 'check the copy in object storage even when a local copy exists\n(a backup only the remote has is always checked there)' },
    latest: { type: 'boolean', help: 'the newest complete backup' },
    type: { type: 'string', arg: '<type>', help: 'with --latest or --all: only backups of this type' },
    'include-safety': { type: 'boolean', help: 'with --latest: also consider safety backups (pre-restore, pre-import, pre-drop)' },
    all: { type: 'boolean', help: 'every complete backup of the environment' },
    deep: {
      type: 'boolean',
      help: "also restore into a scratch database and compare every table's row\ncount and fingerprint, and the sequences, with .info; the scratch\ndatabase lives on VERIFY_DATABASE_URL's server if set, else on the\nenvironment's own server, and is dropped whatever happens",
    },
    artifact: { type: 'string', arg: '<format>', help: 'what --deep restores (default: dump, else tar, sql.gz, sql)' },
    identity: { type: 'string', arg: '<file>', help: 'age identity file: decrypt encrypted backups to check their contents (default: AGE_IDENTITY_FILE)' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    const latest = values.latest === true;
    const all = values.all === true;
    const chosen = [positionals.length > 0, latest, all].filter(Boolean).length;
    if (chosen !== 1) problems.push('Name what to verify: one backup id (or .info file), --latest, or --all.');
    if (positionals.length > 1) problems.push(`One backup at a time, got ${positionals.join(' ')}; use --all for every backup.`);
    const artifact = stringValue(values, 'artifact');
    if (artifact !== undefined && !(FORMATS as readonly string[]).includes(artifact)) problems.push(`--artifact takes one of ${FORMATS.join(', ')}, got "${artifact}".`);
    if (problems.length) throw usageError(problems, 'pnpm db:verify --');
    return { ...common, input: positionals[0], latest, all, deep: values.deep === true, artifact: artifact as Format | undefined, type: stringValue(values, 'type'), identity: stringValue(values, 'identity'), includeSafety: values['include-safety'] === true };
  },
  async run(args, ctx) {
    const started = ctx.now();
    const { name: env, store } = ctx.environment(args.env);
    const dir = store.where;
    const catalog = await store.list();
    const complete = catalog.complete.filter((e) => args.type === undefined || e.info.type === args.type);
    let entries: StoredBackup[];
    if (args.all) entries = complete;
    else if (args.latest) entries = [latestReadable({ ...catalog, complete: latestCandidates(catalog.complete, { ...args, database: ownDatabase(args, ctx) }) }, args.type, dir, ctx.now(), (m) => ctx.reporter.notice(m), 'verify')].filter((e): e is StoredBackup => e !== undefined);
    else {
      const id = path.basename(args.input!).replace(/\.info$/, '');
      entries = catalog.complete.filter((e) => e.id === id);
      const broken = catalog.leftovers.find((l) => l.id === id && l.name === `${id}.info`);
      if (entries.length === 0 && broken) throw new KitError('INTEGRITY_FAILED', `Backup ${id} cannot be verified: ${broken.reason}.`);
      if (entries.length === 0) throw new KitError('BACKUP_NOT_FOUND', `No complete backup "${id}" in ${dir}. See pnpm db:list${env === 'default' ? '' : ` -- --env ${env}`}.`);
    }
    if (entries.length === 0) throw new KitError('BACKUP_NOT_FOUND', `No complete backups${args.type ? ` of type ${args.type}` : ''} in ${dir}.`);
    let scratch: Target | undefined;
    if (args.deep) scratch = ctx.env.VERIFY_DATABASE_URL ? targetFromUrl(ctx.env.VERIFY_DATABASE_URL, 'VERIFY_DATABASE_URL', env) : ctx.target(args);
    const verified: Verification[] = [];
    for (const entry of entries) {
      try {
        verified.push(await verifyBackup(store, entry, { deep: args.deep, artifact: args.artifact, identity: args.identity }, scratch, ctx.env, ctx.reporter, ctx.signal, ctx.now()));
      } catch (error) {
        // db:retention removed it meanwhile: not a failed backup, and with --all not the end.
        if (!(args.all && error instanceof KitError && error.code === 'BACKUP_NOT_FOUND')) throw error;
        ctx.reporter.notice(error.message);
      }
    }
    const result = { environment: env, verified, ok: verified.every((v) => v.ok), durationMs: ctx.now().getTime() - started.getTime(), peakRssBytes: process.resourceUsage().maxRSS * 1024 };
    const failed = verified.find((v) => !v.ok);
    if (failed) {
      // the report still goes out (text or --json), and the exit status says what failed
      failWithReport(result, new KitError(failed.failure ?? 'INTEGRITY_FAILED', `${verified.filter((v) => !v.ok).length} of ${verified.length} backups failed verification:\n${verified.filter((v) => !v.ok).flatMap(problemLines).join('\n')}`));
    }
    return result;
  },
  render(result) {
    return result.verified.flatMap((v) => [
      `${v.ok ? 'passed' : 'FAILED'}  ${v.id}  (${v.level})`,
      ...v.artifacts.map((a) => `  ${a.ok ? 'ok  ' : 'FAIL'}  ${a.file}: ${a.ok ? a.checks.join('; ') : a.problem}`),
      ...(v.deep ? [`  ${v.deep.problems.length ? 'FAIL' : 'ok  '}  restored ${v.deep.artifact} on ${v.deep.server}: ${v.deep.tables} tables, ${v.deep.rows} rows, ${v.deep.sequences} sequences${v.deep.problems.length ? '' : ' match .info'}`, ...v.deep.problems.map((p) => `        ${p}`)] : []),
    ]);
  },
  logFields(result) {
    return { verified: result.verified.map((v) => ({ id: v.id, level: v.level, ok: v.ok })) };
  },
};

function problemLines(v: Verification): string[] {
  return [
    ...v.artifacts.filter((a) => !a.ok).map((a) => `  ${v.id}: ${a.problem}`),
    ...(v.deep?.problems ?? []).map((p) => `  ${v.id}: ${p}`),
  ];
}
