/**
 * The roles (PostgreSQL) or users (MySQL/MariaDB) a database needs, saved with every logical
 * backup as <id>.globals.sql: a dump saves a database, not the accounts that own its objects or
 * hold its grants. Which ones, and their statements, the engine says (Engine.dumpRoles); this
 * writes them into the backup.
 */
import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ArtifactInfo, RolesInfo } from '../format/metadata.js';
import type { BackupWrite } from '../store/store.js';
import type { RolesDump } from '../engines/engine.js';

/**
 * Save the roles as `<id>.globals.sql` through `sink` (the store's writable for it, which
 * encrypts when the environment is encrypted): the artifact and the .info `roles` entry.
 */
export async function saveRoles(dump: RolesDump, file: string, sink: Writable): Promise<{ artifact: ArtifactInfo; roles: RolesInfo }> {
  const bytes = Buffer.from(dump.sql, 'utf8');
  await pipeline(Readable.from([bytes]), sink);
  return {
    artifact: { file, format: 'globals', bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') },
    roles: { file, roles: dump.roles, passwords: dump.passwords },
  };
}

/** backup_x → backup_x.globals.sql */
export function globalsFileOf(id: string): string {
  return `${id}.globals.sql`;
}

/** The engine's roles dump, written into the backup being written. */
export async function backupRoles(dumping: Promise<RolesDump>, write: BackupWrite): Promise<{ artifact: ArtifactInfo; roles: RolesInfo }> {
  const dump = await dumping;
  const file = globalsFileOf(write.id);
  return saveRoles(dump, file, write.artifact(file));
}
