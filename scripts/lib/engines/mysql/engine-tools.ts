/**
 * The MySQL client programs as the engine seam hands them out: located, judged against the
 * server, and run with the target's connection in a private option file.
 */
import { KitError } from '../../errors.js';
import type { LocatedTool, ServerFacts, SpawnToolOptions, ToolName } from '../engine.js';
import { locateMySqlTool, startMySqlTool, type MySqlToolName } from './tools.js';
import { dumpToolProblem, majorMinor } from './fit.js';
import { mySqlToolOf, type MySqlLocatedTool } from './located.js';

const MYSQL_TOOLS: readonly string[] = ['mariadb-dump', 'mariadb'] satisfies MySqlToolName[];

function ownTool(name: ToolName): MySqlToolName {
  if (!MYSQL_TOOLS.includes(name)) throw new KitError('INTERNAL', `The MySQL/MariaDB engine has no program ${name}.`);
  return name as MySqlToolName;
}

/**
 * The program, judged against the server when its facts are given: a dump program older than the
 * server, or of the other flavour, is refused with the package to install.
 */
export async function locateMySqlProgram(name: ToolName, server: number | ServerFacts, env?: NodeJS.ProcessEnv): Promise<MySqlLocatedTool> {
  const tool = await locateMySqlTool(ownTool(name), env);
  if (typeof server !== 'number' && server.flavour && name === 'mariadb-dump') {
    const problem = dumpToolProblem(tool.path, tool, { flavour: server.flavour, release: server.release });
    if (problem) throw new KitError('PG_DUMP_TOO_OLD', problem);
  }
  return { ...tool, version: tool.release ?? tool.versionLine, major: majorMinor(tool.release)?.[0] ?? 0 };
}

export function spawnMySqlTool(tool: LocatedTool, args: string[], options: SpawnToolOptions) {
  if (!options.target) throw new KitError('INTERNAL', `${tool.name} needs its target for the connection (a private option file).`);
  const { target, ...rest } = options;
  return startMySqlTool(mySqlToolOf(tool), target, args, rest);
}
