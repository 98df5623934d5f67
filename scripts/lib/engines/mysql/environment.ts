/** MySQL's and MariaDB's answers about environments (engine.ts EngineEnvironment). */
import type { Target } from '../../config/target.js';
import type { Client, EngineEnvironment } from '../engine.js';

export const mysqlEnvironment: EngineEnvironment = {
  readOnly: (target: Target) => target,
  // A server is its host and data directory (two servers on one host never share one, whatever
  // port or socket reaches them); the database is its name there. A database reached through
  // its socket and through TCP is the same one.
  async databaseIdentity(client: Client): Promise<string> {
    const { rows } = await client.query<{ id: string }>(`SELECT CONCAT(@@hostname, ':', @@datadir, '/', DATABASE()) AS id`);
    return rows[0]!.id;
  },
  physicalBackups: false,
};
