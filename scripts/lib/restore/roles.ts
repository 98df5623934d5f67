/**
 * `db:restore -- --with-roles`: the roles a backup's objects need, created from its globals.sql
 * before the restore. Only missing roles are created; an existing role is never altered (its
 * attributes, password, settings, comment or memberships) unless --update-roles is given.
 */
import { KitError } from '../errors.js';
import type { Client } from '../pg/connect.js';
import { parseRoleScript, type RoleStatement } from '../format/role-script.js';

export interface RolesPlan {
  /** Roles globals.sql holds that the target lacks: they are created. */
  create: string[];
  /** Roles globals.sql holds that the target has: left alone, or updated with --update-roles. */
  existing: string[];
  update: boolean;
  /** What runs, in order, in one transaction. */
  statements: string[];
  /** Memberships not granted because they would change an existing role. */
  skipped: string[];
}

/** Decide what to run. Pure: `present` is every role the target server has. */
export function planRoles(script: string, present: ReadonlySet<string>, update: boolean): RolesPlan {
  const parsed = parseRoleScript(script);
  const unknown = parsed.filter((s): s is Extract<RoleStatement, { kind: 'other' }> => s.kind === 'other');
  if (unknown.length) {
    throw new KitError('INTEGRITY_FAILED', `globals.sql holds a statement the kit does not write (${unknown[0]!.text.slice(0, 60)}…); it was changed after the backup. Create the roles by hand, or restore without --with-roles. Nothing was changed.`);
  }
  const inScript = [...new Set(parsed.flatMap((s) => (s.kind === 'role' ? [s.role] : [])))];
  const create = inScript.filter((r) => !present.has(r));
  const creating = new Set(create);
  const will = (role: string) => present.has(role) || creating.has(role);
  const statements: string[] = [];
  const skipped: string[] = [];
  for (const s of parsed) {
    if (s.kind === 'session') statements.push(s.text);
    else if (s.kind === 'role') {
      if (creating.has(s.role) || (update && s.action !== 'create')) statements.push(s.text);
    } else if (s.kind === 'membership') {
      if (!creating.has(s.member) && !update) {
        if (!present.has(s.member) || !present.has(s.role)) skipped.push(`${s.role} to ${s.member}`);
        continue;
      }
      statements.push(s.grantor === undefined || will(s.grantor) ? s.text : s.withoutGrantor);
    }
  }
  return { create, existing: inScript.filter((r) => present.has(r)), update, statements, skipped };
}

export async function presentRoles(client: Client): Promise<Set<string>> {
  return new Set((await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles')).rows.map((r) => r.rolname));
}

/** Run the plan in one transaction: every role is created, or none. */
export async function applyRoles(client: Client, plan: RolesPlan): Promise<void> {
  if (plan.create.length === 0 && !plan.update) return;
  await client.query('BEGIN');
  try {
    for (const statement of plan.statements) await client.query(statement);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    const said = (error as Error).message;
    const privilege = /permission denied|must be superuser|must have (CREATEROLE|admin)/i.test(said);
    throw new KitError('RESTORE_FAILED', `Creating the backup's roles failed (${said}); no role was created and nothing was restored.${privilege ? ' Creating roles needs CREATEROLE (and a superuser for superuser roles): run the restore as such a user, or create the roles by hand from the backup\'s globals.sql.' : ''}`, { cause: error });
  }
}
