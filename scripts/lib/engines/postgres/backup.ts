/**
 * What a PostgreSQL backup needs from its engine before and around the dumps: pg_dump and its
 * companions located for the server, the exported snapshot every pg_dump imports (held open in a
 * REPEATABLE READ, READ ONLY transaction until all are done), and the roles the database needs.
 */
import type { BackupSnapshot, BackupTools, Client, RolesDumpRequest, RolesDump, ServerFacts } from '../engine.js';
import { readExtensions } from './extensions.js';
import { locateTool } from './tools.js';
import { dumpRoles } from './roles.js';

export async function backupTools(facts: ServerFacts, archiveStats: boolean, env: NodeJS.ProcessEnv): Promise<BackupTools> {
  const dump = await locateTool('pg_dump', facts.major, env);
  const roles = await locateTool('pg_dumpall', facts.major, env);
  const archiveReader = archiveStats ? await locateTool('pg_restore', facts.major, env) : undefined;
  return { dump, roles, archiveReader };
}

/**
 * The snapshot every artifact is read from. It must stay open until every pg_dump has imported
 * it; it is held (read-only, no locks beyond pg_dump's own) until all are done.
 */
export async function openBackupSnapshot(client: Client, scope: { tables: string[]; schemas: string[] }): Promise<BackupSnapshot> {
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
  const { s: id, t: serverTime } = (await client.query<{ s: string; t: Date }>('SELECT pg_export_snapshot() AS s, now() AS t')).rows[0]!;
  const largeObjects = Number((await client.query<{ n: string }>('SELECT count(*) AS n FROM pg_largeobject_metadata')).rows[0]!.n);
  // pg_dump writes a CREATE EXTENSION for each unless --table or --schema narrowed the dump.
  const extensions = scope.tables.length || scope.schemas.length ? [] : await readExtensions(client);
  return { id, serverTime, largeObjects, extensions, warnings: [], release: async () => void (await client.query('COMMIT')) };
}

export function dumpPostgresRoles(request: RolesDumpRequest): Promise<RolesDump> {
  return dumpRoles(request.tools.roles!, request.client, request.target.database, request.env, request.signal);
}
