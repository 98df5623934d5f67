/**
 * `db:restore -- --with-roles`: the roles a backup's objects need, created from its globals.sql
 * before the restore. Only missing roles are created; an existing role is never altered (its
 * attributes, password, settings, comment or memberships) unless --update-roles is given.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { KitError } from '../errors.js';
import type { Client } from '../engines/engine.js';
import { parseRoleScript, type RoleStatement } from '../format/role-script.js';
import type { ArtifactInfo, BackupInfo } from '../format/metadata.js';
import { identityFor } from '../crypto/keys.js';
import { decryptSmall } from '../crypto/stream.js';
import { checkStored, type DecryptionRequest } from './encrypted.js';
import type { BackupStore, LocalCopy, StoredBackup } from '../store/store.js';

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
  /** The role the restore connects as: never altered. */
  self?: string | undefined;
}

/**
 * Decide what to run. Pure: `present` is every role the target server has; `self` is the role
 * the restore connects as, never altered even with --update-roles (its password or attributes
 * changing under the running restore would lock the restore out).
 */
export function planRoles(script: string, present: ReadonlySet<string>, update: boolean, self?: string): RolesPlan {
  const parsed = parseRoleScript(script);
  const unknown = parsed.filter((s): s is Extract<RoleStatement, { kind: 'other' }> => s.kind === 'other');
  if (unknown.length) {
    throw new KitError('INTEGRITY_FAILED', `globals.sql holds a statement the kit does not write (${unknown[0]!.text.slice(0, 60)}…); it was changed after the backup. Create the roles by hand, or restore without --with-roles. Nothing was changed.`);
  }
  const inScript = [...new Set(parsed.flatMap((s) => (s.kind === 'role' ? [s.role] : [])))];
  const create = inScript.filter((r) => !present.has(r));
  const creating = new Set(create);
  const will = (role: string) => present.has(role) || creating.has(role);
  const updatable = (role: string) => update && role !== self;
  const statements: string[] = [];
  const skipped: string[] = [];
  for (const s of parsed) {
    if (s.kind === 'session') statements.push(s.text);
    else if (s.kind === 'role') {
      if (creating.has(s.role) || (updatable(s.role) && s.action !== 'create')) statements.push(s.text);
    } else if (s.kind === 'membership') {
      if (!creating.has(s.member) && !updatable(s.member)) {
        if (!present.has(s.member) || !present.has(s.role)) skipped.push(`${s.role} to ${s.member}`);
        continue;
      }
      statements.push(s.grantor === undefined || will(s.grantor) ? s.text : s.withoutGrantor);
    }
  }
  return { create, existing: inScript.filter((r) => present.has(r)), update, statements, skipped, self };
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

/** The backup's globals.sql artifact, or a message saying why --with-roles cannot work. */
export function globalsArtifact(info: BackupInfo | undefined, what: string): ArtifactInfo {
  const artifact = info?.artifacts.find((a) => a.format === 'globals');
  if (!artifact) {
    throw new KitError('MISSING_ROLES', `--with-roles needs the roles saved with the backup (globals.sql), and ${info ? `backup ${info.id} has none (it was taken before the kit saved roles)` : `${what} has no .info beside it`}. Create the roles by hand, or restore with --no-owner. Nothing was changed.`);
  }
  return artifact;
}

/**
 * globals.sql's text: checked against .info as stored (unless `proven` as it was downloaded),
 * decrypted (whole, authenticated) if need be.
 */
export async function readGlobals(file: string, artifact: ArtifactInfo, info: BackupInfo | undefined, request: DecryptionRequest, proven = false): Promise<string> {
  if (!proven) await checkStored(file, artifact);
  if (!artifact.plain) return readFile(file, 'utf8');
  const identity = await identityFor(request.identity, info?.encryption?.recipients ?? [], path.basename(file));
  const plain = await decryptSmall(createReadStream(file), identity, path.basename(file), request.env);
  if (createHash('sha256').update(plain).digest('hex') !== artifact.plain.sha256) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} decrypted to something other than what .info recorded. Nothing was changed.`);
  }
  return plain.toString('utf8');
}

/** What a restore will do about roles, in words for the summary. */
export function describeRolesPlan(plan: RolesPlan): string {
  const created = plan.create.length ? `create ${plan.create.join(', ')}` : 'create none (all exist)';
  const updated = plan.update ? plan.existing.filter((r) => r !== plan.self) : [];
  const kept = plan.existing.filter((r) => !updated.includes(r));
  const existing = [updated.length ? `update ${updated.join(', ')}` : '', kept.length ? `leave alone ${kept.join(', ')}` : ''].filter(Boolean).join('; ');
  return `${created}${existing ? `; ${existing}` : ''}`;
}

interface BackupRef {
  id: string;
  info: BackupInfo | undefined;
  /** Where the artifact being restored was found (for a file named on the command line). */
  file: string;
  /** The backup as the store listed it when the restore chose it: no second listing. */
  entry?: StoredBackup | undefined;
}

/**
 * The roles plan for `--with-roles`: globals.sql from the same backup (from its store, or beside
 * a file named on the command line), checked and decrypted, against the roles the target has.
 */
export async function loadRolesPlan(backup: BackupRef, store: BackupStore, client: Client, update: boolean, request: DecryptionRequest): Promise<RolesPlan> {
  const artifact = globalsArtifact(backup.info, path.basename(backup.file));
  const listed = backup.entry ?? (await store.list()).complete.find((e) => e.id === backup.id);
  const entry = listed?.files.includes(artifact.file) ? listed : undefined;
  const copy: LocalCopy = entry ? await store.localFile(entry, artifact.file) : { path: path.join(path.dirname(backup.file), artifact.file), release: async () => undefined };
  try {
    const script = await readGlobals(copy.path, artifact, backup.info, request, copy.proven === true);
    const self = (await client.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
    return planRoles(script, await presentRoles(client), update, self);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new KitError('BACKUP_NOT_FOUND', `--with-roles needs ${artifact.file} of backup ${backup.id}, which is missing. Nothing was changed.`);
    }
    throw error;
  } finally {
    await copy.release();
  }
}
