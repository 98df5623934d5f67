/** MySQL's and MariaDB's answers about environments (engine.ts EngineEnvironment). */
import type { Target } from '../../config/target.js';
import type { Client, EngineEnvironment, ToolCopy, ToolName } from '../engine.js';
import { locateMySqlTool, type MySqlToolName } from './tools.js';
import { majorMinor } from './fit.js';

/** The one copy the kit runs: the first of the program's names found on PATH. */
async function toolCopies(name: ToolName, env: NodeJS.ProcessEnv): Promise<ToolCopy[]> {
  try {
    const tool = await locateMySqlTool(name as MySqlToolName, env);
    return [{ path: tool.path, version: tool.release ?? tool.versionLine, major: majorMinor(tool.release)?.[0] ?? 0 }];
  } catch {
    return [];
  }
}

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
  clientTools: ['mariadb-dump', 'mariadb'],
  toolCopies,
  clientPackage: { apt: 'mariadb-client', brew: 'mariadb', label: 'MySQL/MariaDB' },
};
