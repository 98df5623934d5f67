/**
 * The roles a PostgreSQL database needs, for the globals artifact saved with every logical backup:
 * pg_dump saves a database, not the roles that own its objects or hold its grants.
 *
 * `pg_dumpall --roles-only` writes every role of the cluster; the kit keeps the statements of the
 * roles this database depends on (pg_shdepend: owners, grantees, policy roles; the database's
 * owner; roles with settings in it; the bootstrap superuser), plus every role those are members of,
 * so a restore onto a new server can recreate them, and a backup does not carry the rest of the
 * cluster's password hashes. Passwords are saved only when the backup's user may read them
 * (pg_authid); otherwise --no-role-passwords, and the roles come back without passwords.
 */
import { KitError } from '../../errors.js';
import type { Client, RolesDump } from '../engine.js';
import { spawnTool, type LocatedTool } from './tools.js';
import { filterRoleScript, parseRoleScript, renderRoleScript } from '../../format/role-script.js';

const NEEDED_ROLES = `
WITH RECURSIVE db AS (SELECT oid, datdba FROM pg_database WHERE datname = current_database()),
direct AS (
  SELECT refobjid AS oid FROM pg_shdepend, db WHERE refclassid = 'pg_authid'::regclass AND dbid = db.oid
  UNION SELECT datdba FROM db
  UNION SELECT setrole FROM pg_db_role_setting, db WHERE setdatabase = db.oid AND setrole <> 0
  UNION SELECT 10::oid
),
closure AS (
  SELECT oid FROM direct
  UNION SELECT m.roleid FROM pg_auth_members m JOIN closure c ON m.member = c.oid
)
SELECT rolname FROM pg_roles WHERE oid IN (SELECT oid FROM closure) ORDER BY rolname`;

export async function neededRoles(client: Client): Promise<string[]> {
  return (await client.query<{ rolname: string }>(NEEDED_ROLES)).rows.map((r) => r.rolname);
}

/** Run pg_dumpall --roles-only (its output is small: one statement or two per role). */
async function rolesScript(pgDumpall: LocatedTool, database: string, env: NodeJS.ProcessEnv, passwords: boolean, signal: AbortSignal): Promise<string> {
  const args = ['--roles-only', '--no-password', `--database=${database}`, ...(passwords ? [] : ['--no-role-passwords'])];
  const tool = spawnTool(pgDumpall, args, { env, failure: 'PG_DUMP_FAILED' });
  const onAbort = () => tool.stop();
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of tool.child.stdout!) chunks.push(chunk as Buffer);
    await tool.done;
  } catch (error) {
    if (error instanceof KitError) throw new KitError('PG_DUMP_FAILED', `Saving the roles with pg_dumpall failed: ${error.message}. No backup was written.`, { detail: error.detail });
    throw error;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function dumpRoles(pgDumpall: LocatedTool, client: Client, database: string, env: NodeJS.ProcessEnv, signal: AbortSignal): Promise<RolesDump> {
  const passwords = (await client.query<{ ok: boolean }>("SELECT has_table_privilege('pg_authid', 'SELECT') AS ok")).rows[0]!.ok;
  const roles = await neededRoles(client);
  const script = await rolesScript(pgDumpall, database, env, passwords, signal);
  const kept = filterRoleScript(parseRoleScript(script), new Set(roles));
  const missing = roles.filter((r) => !kept.some((s) => s.kind === 'role' && s.action === 'create' && s.role === r));
  if (missing.length) {
    throw new KitError('ARTIFACT_IMPLAUSIBLE', `pg_dumpall --roles-only did not write CREATE ROLE for ${missing.join(', ')}, which the database needs. No backup was written; check the client tools (pnpm db:deps).`);
  }
  const header = [
    `-- Roles that database ${database} needs, from pg_dumpall --roles-only${passwords ? '' : ' --no-role-passwords (the backup\'s user may not read passwords)'}.`,
    '-- Restore them with: pnpm db:restore -- <backup> --with-roles (creates the missing ones, alters none);',
    '-- or by hand: psql -v ON_ERROR_STOP=1 -f <this file> (fails on a role that already exists).',
  ].join('\n');
  return { sql: renderRoleScript(kept, header), roles, passwords };
}

/** A globals.sql read through: every statement one the kit writes, and how many roles it creates. */
export function checkPostgresRoles(text: string): { accounts: number; problem?: string } {
  const statements = parseRoleScript(text);
  const accounts = statements.filter((s) => s.kind === 'role' && s.action === 'create').length;
  return statements.some((s) => s.kind === 'other') ? { accounts, problem: 'holds statements the kit does not write' } : { accounts };
}
