/** PostgreSQL's answers about environments (engine.ts EngineEnvironment). */
import { existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import type { Target } from '../../config/target.js';
import { probeOutput } from '../../proc/process.js';
import type { Client, EngineEnvironment, ToolCopy } from '../engine.js';
import { candidateDirs, parseToolVersion } from './tools.js';

/** Every copy of a PostgreSQL program in the directories the kit searches, in its order. */
async function toolCopies(name: string, env: NodeJS.ProcessEnv): Promise<ToolCopy[]> {
  const found: ToolCopy[] = [];
  const seen = new Set<string>();
  for (const dir of candidateDirs(env)) {
    const file = path.join(dir, name);
    if (!existsSync(file)) continue;
    const parsed = parseToolVersion((await probeOutput(file, ['--version'], 10_000)) ?? '');
    if (!parsed) continue;
    const key = realpathSync(file); // /bin and /usr/bin are often one directory
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ path: file, version: parsed.version, major: parsed.major });
  }
  return found;
}

export const postgresEnvironment: EngineEnvironment = {
  readOnly(target: Target): Target {
    const options = [target.params.options, '-c default_transaction_read_only=on'].filter(Boolean).join(' ');
    return { ...target, params: { ...target.params, options } };
  },
  // The same server process (its start time) and the same database (its OID): a copy restored
  // elsewhere, or a database of the same name on another cluster, differs.
  async databaseIdentity(client: Client): Promise<string> {
    const { rows } = await client.query<{ id: string }>(
      `SELECT pg_postmaster_start_time()::text || '/' || (SELECT oid FROM pg_database WHERE datname = current_database())::text AS id`,
    );
    return rows[0]!.id;
  },
  physicalBackups: true,
  clientTools: ['pg_dump', 'pg_restore', 'psql'],
  toolCopies,
};
