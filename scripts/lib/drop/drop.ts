/**
 * Reset a database to empty: a backup first (type pre-drop, so `db:restore -- --latest --type
 * pre-drop` undoes it), then every user schema dropped and public recreated with the owner,
 * privileges and comment it had. One transaction with a savepoint per step: a database owner who
 * is not a superuser gets everything they may drop, falls back to DROP OWNED BY CURRENT_USER for
 * the rest, and is told plainly what could not be dropped.
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import { checkConsent } from '../config/confirmation.js';
import { restoreCommandLine } from '../format/restore-command.js';
import type { Target } from '../config/target.js';
import { connectWithWait, type Client } from '../pg/connect.js';
import type { StoreContext } from '../store/environment.js';
import { ident, literal } from '../pg/quote.js';
import { backup, wholeDatabaseDump } from '../backup/backup.js';

export interface DropOptions {
  skipBackup: boolean;
  /** --force (alias --yes): no prompt. */
  force: boolean;
  confirm: string | undefined;
  waitSeconds: number;
}

export interface DropUi {
  interactive: boolean;
  show(lines: string[]): void;
  confirm(target: Target): Promise<boolean>;
}

export interface DropResult {
  target: { database: string; host: string; port: number; environment: string };
  backup: { id: string; file: string } | undefined;
  dropped: string[];
  notDropped: string[];
  undo: string | undefined;
  durationMs: number;
}

async function step(client: Client, name: string, sql: string, failures: string[]): Promise<boolean> {
  await client.query('SAVEPOINT kit_step');
  try {
    await client.query(sql);
    await client.query('RELEASE SAVEPOINT kit_step');
    return true;
  } catch (error) {
    await client.query('ROLLBACK TO SAVEPOINT kit_step');
    failures.push(`${name}: ${(error as Error).message}`);
    return false;
  }
}

export async function dropAll(target: Target, options: DropOptions, ctx: StoreContext, ui: DropUi): Promise<DropResult> {
  const started = ctx.now();
  if (target.protected && options.skipBackup) {
    throw new KitError('PROTECTED_TARGET', `--skip-backup is refused on the protected environment "${target.env}": dropping everything there must stay undoable.`);
  }
  const lock = await ctx.environment(target.env).store.lock('drop');
  let client: Client | undefined;
  try {
    client = await connectWithWait(target, options.waitSeconds);
    const { rows: schemas } = await client.query<{ nspname: string; tables: string }>(
      `SELECT n.nspname, (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'p'))::text AS tables
         FROM pg_namespace n
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY n.nspname`,
    );
    const summary = [
      `Drop:    every object in ${target.database} on ${target.host}:${target.port} (environment ${target.env}${target.protected ? ', PROTECTED' : ''})`,
      `         schemas ${schemas.map((s) => `${s.nspname} (${s.tables} tables)`).join(', ') || 'none'}; public is recreated empty`,
      `Backup:  ${options.skipBackup ? 'none (--skip-backup)' : 'a pre-drop backup is taken first'}`,
    ];
    const consent = checkConsent(target, options, ui.interactive, {
      withoutPrompt: 'drop everything there',
      needsConfirmation: `Dropping everything in ${target.database} on ${target.host}:${target.port}`,
    });
    ui.show(summary);
    if (consent === 'ask' && !(await ui.confirm(target))) throw new KitError('NOT_CONFIRMED', 'Cancelled; nothing was dropped.');

    let made: DropResult['backup'];
    if (!options.skipBackup) {
      ctx.reporter.progress({ phase: 'pre-drop backup', bytes: 0 });
      const result = await backup(target, wholeDatabaseDump('pre-drop', `Before dropping everything in ${target.database}`), ctx, { lockHeld: true });
      made = { id: result.id, file: result.files[0]!.path };
    }

    ctx.reporter.progress({ phase: 'dropping', bytes: 0 });
    const failures: string[] = [];
    const dropped: string[] = [];
    await client.query('BEGIN');
    await client.query('SET LOCAL client_min_messages = warning');
    const { rows: [publicSchema] } = await client.query<{ owner: string; acl: string[] | null; comment: string | null }>(
      `SELECT nspowner::regrole::text AS owner, nspacl::text[] AS acl, obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = 'public'`,
    );
    const grants = publicSchema
      ? (await client.query<{ privilege: string; grantee: string; grantable: boolean }>(
          `SELECT a.privilege_type AS privilege, a.is_grantable AS grantable,
                  CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::text) END AS grantee
             FROM pg_namespace n, aclexplode(n.nspacl) a WHERE n.nspname = 'public'`,
        )).rows
      : [];
    for (const { evtname } of (await client.query<{ evtname: string }>('SELECT evtname FROM pg_event_trigger')).rows) {
      if (await step(client, `event trigger ${evtname}`, `DROP EVENT TRIGGER ${ident(evtname)}`, failures)) dropped.push(`event trigger ${evtname}`);
    }
    for (const { pubname } of (await client.query<{ pubname: string }>('SELECT pubname FROM pg_publication')).rows) {
      if (await step(client, `publication ${pubname}`, `DROP PUBLICATION ${ident(pubname)}`, failures)) dropped.push(`publication ${pubname}`);
    }
    for (const { nspname } of schemas) {
      if (await step(client, `schema ${nspname}`, `DROP SCHEMA ${ident(nspname)} CASCADE`, failures)) dropped.push(`schema ${nspname}`);
    }
    if (failures.length) {
      // What is left may still hold objects this user owns; drop those at least.
      if (await step(client, 'objects owned by the current user', 'DROP OWNED BY CURRENT_USER', failures)) dropped.push('everything else owned by the current user');
    }
    await step(client, 'large objects', `SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE pg_has_role(lomowner, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)`, failures);
    const publicGone = (await client.query(`SELECT 1 FROM pg_namespace WHERE nspname = 'public'`)).rowCount === 0;
    if (publicSchema && publicGone) {
      await client.query('CREATE SCHEMA public');
      await client.query(`ALTER SCHEMA public OWNER TO ${publicSchema.owner}`);
      if (publicSchema.acl) {
        await client.query(`REVOKE ALL ON SCHEMA public FROM PUBLIC, ${publicSchema.owner}`);
        for (const g of grants) await client.query(`GRANT ${g.privilege} ON SCHEMA public TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
      }
      if (publicSchema.comment !== null) await client.query(`COMMENT ON SCHEMA public IS ${literal(publicSchema.comment)}`);
    }
    const { rows: remaining } = await client.query<{ what: string }>(
      `SELECT format('%s %I.%I', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'relation' END, n.nspname, c.relname) AS what
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
        ORDER BY 1`,
    );
    await client.query('COMMIT');
    const notDropped = remaining.length ? [...remaining.map((r) => `${r.what} (not yours to drop)`), ...failures] : failures.filter((f) => !f.startsWith('schema '));
    return {
      target: { database: target.database, host: target.host, port: target.port, environment: target.env },
      backup: made,
      dropped,
      notDropped,
      undo: made ? restoreCommandLine({ source: { latest: true, type: 'pre-drop' }, environment: target.env, force: true, ...(target.protected ? { protectedDatabase: target.database } : {}) }) : undefined,
      durationMs: ctx.now().getTime() - started.getTime(),
    };
  } catch (error) {
    await client?.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client?.end().catch(() => undefined);
    lock.release();
  }
}


