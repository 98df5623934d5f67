/** PostgreSQL's answers about environments (engine.ts EngineEnvironment). */
import type { Target } from '../../config/target.js';
import type { Client, EngineEnvironment } from '../engine.js';

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
};
