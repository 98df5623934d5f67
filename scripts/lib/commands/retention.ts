/**
 * `db:retention`: plan with planRetention(), print the plan, and apply it unless --dry-run.
 * A backup is deleted whole (.info first, so it stops being a backup at once, then its files);
 * if any metadata cannot be read, nothing is deleted.
 */
import { KitError } from '../errors.js';
import { stringValue, usageError, type Command, type CommonArgs } from '../cli/run.js';
import { REMOTE_OPTIONS } from '../cli/options.js';
import { loadConfig } from '../config/file.js';
import { formatTimestamp, parseInstant } from '../text/time.js';
import type { BackupStore, Leftover, Listing } from '../store/store.js';
import { takenAt } from '../store/catalog.js';
import { DEFAULT_POLICY, keepChainLinks, planRetention, type RetentionDecision, type RetentionPolicy } from '../retention/plan.js';

export interface RetentionArgs extends CommonArgs {
  dryRun: boolean;
  now: Date | undefined;
  policy: Partial<RetentionPolicy>;
}

export interface RetentionResult {
  environment: string;
  dryRun: boolean;
  policy: RetentionPolicy;
  now: string;
  decisions: Array<RetentionDecision & { takenAt: string; type: string; where?: 'local' | 'remote' }>;
  /** With a remote: the policy applied to the remote set. */
  remotePolicy?: RetentionPolicy;
  removedLeftovers: string[];
  deleted: number;
  kept: number;
}

const COUNT_FLAGS = { daily: 'daily', weekly: 'weekly', monthly: 'monthly', 'keep-last': 'keepLast' } as const;

export const retentionCommand: Command<RetentionArgs, RetentionResult> = {
  name: 'retention',
  synopsis: 'pnpm db:retention -- [--dry-run] [policy options]',
  description: `
Deletes the backups the policy does not keep, and says why for each. Always kept: the newest
complete backup. Never counted toward a keep: a backup whose last verification failed.
Policy: flags > backup-kit.json "retention" > defaults.

With a remote, the policy is applied to the local backups and to the remote ones separately
(backup-kit.json's remote.retention gives the remote its own counts), the newest complete
backup in each place is always kept, and interrupted uploads are cleaned up: objects without
an .info, and multipart uploads unfinished for more than a day.`,
  // It works on backups/<env>/ (and the bucket) and never connects.
  shared: ['env', ...REMOTE_OPTIONS],
  options: {
    daily: { type: 'string', arg: '<n>', help: 'newest backup of each of the newest n days (default 7)' },
    weekly: { type: 'string', arg: '<n>', help: '… of each of the newest n ISO weeks (default 4)' },
    monthly: { type: 'string', arg: '<n>', help: '… of each of the newest n months (default 12)' },
    'keep-last': { type: 'string', arg: '<n>', help: 'also the newest n backups (default 0)' },
    'max-age': { type: 'string', arg: '<days>', help: 'delete anything older (the newest backup excepted); "90" or "90d"' },
    'keep-type': { type: 'string', multiple: true, arg: '<type=n>', help: 'keep the newest n of a type by that count alone\n(defaults: pre-migrate=10, pre-restore=10, pre-drop=10)' },
    'time-zone': { type: 'string', arg: '<tz>', help: 'calendar for days, weeks and months (default UTC)' },
    'dry-run': { type: 'boolean', help: 'print the plan, delete nothing' },
    now: { type: 'string', arg: '<ISO time>', help: 'evaluate the policy at another time (what-if), e.g. 2026-11-21T03:00:00Z' },
  },
  parse(values, positionals, common) {
    const problems: string[] = [];
    if (positionals.length) problems.push(`db:retention takes no arguments, got ${positionals.join(' ')}.`);
    const policy: Partial<RetentionPolicy> = {};
    for (const [flag, key] of Object.entries(COUNT_FLAGS)) {
      const text = stringValue(values, flag);
      if (text === undefined) continue;
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0) problems.push(`--${flag} takes a whole number ≥ 0, got "${text}".`);
      else policy[key] = n;
    }
    const maxAge = stringValue(values, 'max-age');
    if (maxAge !== undefined) {
      const m = /^(\d+)d?$/.exec(maxAge);
      if (!m) problems.push(`--max-age takes days, like 90 or 90d, got "${maxAge}".`);
      else policy.maxAgeDays = Number(m[1]);
    }
    const keepTypes = values['keep-type'];
    if (Array.isArray(keepTypes)) {
      policy.perType = {};
      for (const rule of keepTypes as string[]) {
        const m = /^([a-z0-9][a-z0-9-]*)=(\d+)$/.exec(rule);
        if (!m) problems.push(`--keep-type takes type=count, like pre-migrate=5, got "${rule}".`);
        else policy.perType[m[1]!] = Number(m[2]);
      }
    }
    const timeZone = stringValue(values, 'time-zone');
    if (timeZone !== undefined) {
      try {
        new Intl.DateTimeFormat('en', { timeZone });
        policy.timeZone = timeZone;
      } catch {
        problems.push(`--time-zone "${timeZone}" is not a time zone (for example Europe/Berlin).`);
      }
    }
    const nowText = stringValue(values, 'now');
    const now = nowText === undefined ? undefined : parseInstant(nowText);
    if (nowText !== undefined && now === undefined) problems.push(`--now takes an ISO 8601 time with its zone, like 2026-11-21T12:00:00Z (or a date, 2026-11-21, for midnight UTC), got "${nowText}".`);
    if (problems.length) throw usageError(problems, 'pnpm db:retention --');
    return { ...common, dryRun: values['dry-run'] === true, now, policy };
  },
  async run(args, ctx) {
    const { name: environment, store, repository } = ctx.environment(args.env);
    const config = loadConfig(ctx.root).retention ?? {};
    const policy: RetentionPolicy = { ...DEFAULT_POLICY, ...config, ...args.policy, perType: args.policy.perType ?? config.perType ?? DEFAULT_POLICY.perType };
    const now = args.now ?? ctx.now();
    // The environment's lock (the registry's, held by runCli unless --dry-run) keeps backups and
    // restores out while files are judged and deleted, which also means any partial file found
    // now belongs to a run that is over.
    const places = repository.places();
    if (places.length < 2) return await retainIn(store, environment, policy, now, args.dryRun);
    // Each place is its own set: the newest complete backup of each is kept, and a place may
    // keep more (or fewer) by its own counts (a remote's "retention").
    const results: RetentionResult[] = [];
    let remotePolicy: RetentionPolicy | undefined;
    for (const place of places) {
      const own = place.name === 'local' ? policy : ({ ...policy, ...(place.retention ?? {}) } as RetentionPolicy);
      if (place.name === 'remote') remotePolicy = own;
      results.push(await retainIn(place.backups, environment, own, now, args.dryRun, place.name));
    }
    return {
      ...results[0]!,
      decisions: results.flatMap((r) => r.decisions),
      removedLeftovers: results.flatMap((r) => r.removedLeftovers),
      deleted: results.reduce((n, r) => n + r.deleted, 0),
      kept: results.reduce((n, r) => n + r.kept, 0),
      ...(remotePolicy ? { remotePolicy } : {}),
    };
  },
  render(result) {
    const verb = result.dryRun ? 'would delete' : 'deleted';
    const out = result.decisions.map((d) => `${d.keep ? 'keep  ' : result.dryRun ? 'delete' : 'DELETED'}  ${d.where ? `${d.where.padEnd(6)}  ` : ''}${d.id}  ${formatTimestamp(d.takenAt)}  ${d.reasons.join('; ')}`);
    for (const f of result.removedLeftovers) out.push(`${result.dryRun ? 'delete' : 'DELETED'}  ${f}  incomplete backup left by an interrupted run`);
    out.push(`${result.kept} kept, ${result.deleted} ${verb}${result.removedLeftovers.length ? `, ${result.removedLeftovers.length} leftover files ${verb}` : ''}${result.dryRun ? ' (dry run: nothing was deleted)' : ''}.`);
    return out;
  },
  logFields(result) {
    return { dryRun: result.dryRun, kept: result.kept, deleted: result.decisions.filter((d) => !d.keep).map((d) => d.id) };
  },
};

/** A backup whose .info cannot be read cannot be judged: then nothing is deleted at all. */
function refuseUnjudgeable(catalog: Listing): void {
  const infos = catalog.leftovers.filter((l) => (l.kind === 'unreadable-info' || l.kind === 'newer-info') && l.name === `${l.id}.info`);
  if (!infos.length) return;
  const newer = infos.some((l) => l.kind === 'newer-info');
  throw new KitError('INTEGRITY_FAILED', `Cannot read the metadata of ${infos.map((l) => l.name).join(', ')} (${infos[0]!.reason}), so nothing was deleted: a backup whose .info cannot be read cannot be judged. ${newer ? 'Upgrade the kit' : 'Restore or remove that file by hand'}, then run retention again.`);
}

async function apply(store: BackupStore, plan: RetentionDecision[], byId: Map<string, Parameters<BackupStore['remove']>[0]>, leftovers: Leftover[]): Promise<void> {
  try {
    // A few deletions in flight at once: thousands of backups one after another took minutes.
    const doomed = plan.filter((d) => !d.keep).map((d) => byId.get(d.id)!);
    for (let i = 0; i < doomed.length; i += 16) await Promise.all(doomed.slice(i, i + 16).map((b) => store.remove(b)));
    await store.removeLeftovers(leftovers);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
      throw new KitError('BACKUP_DIR_UNWRITABLE', `Cannot delete backups in ${store.where} (${code}): the directory is read-only or not ours. Nothing more was deleted; fix its permissions and run retention again.`, { cause: error });
    }
    throw error;
  }
}

/** Plan and apply the policy to one store's set of backups. */
async function retainIn(store: BackupStore, environment: string, policy: RetentionPolicy, now: Date, dryRun: boolean, where?: 'local' | 'remote'): Promise<RetentionResult> {
  const catalog = await store.list();
  refuseUnjudgeable(catalog);
  const calendar = planRetention(
    await Promise.all(
      catalog.complete.map(async (e) => {
        const v = await store.readVerification(e);
        return { id: e.id, type: e.info.type, takenAt: new Date(takenAt(e.info)), ...(v ? { verification: v.ok ? ('passed' as const) : ('failed' as const) } : {}) };
      }),
    ),
    policy,
    now,
  );
  const links = new Map(catalog.complete.filter((e) => e.info.chain).map((e) => [e.id, [e.info.chain!.base, e.info.chain!.parent]]));
  const plan = keepChainLinks(calendar, links);
  const byId = new Map(catalog.complete.map((e) => [e.id, e]));
  const removable = catalog.leftovers.filter((l) => l.kind === 'partial');
  if (!dryRun) await apply(store, plan, byId, removable);
  return {
    environment,
    dryRun,
    policy,
    now: now.toISOString(),
    decisions: plan.map((d) => ({ ...d, takenAt: takenAt(byId.get(d.id)!.info), type: byId.get(d.id)!.info.type, ...(where ? { where } : {}) })),
    removedLeftovers: removable.map((l) => (where === 'remote' ? l.location : l.name)),
    deleted: plan.filter((d) => !d.keep).length,
    kept: plan.filter((d) => d.keep).length,
  };
}
