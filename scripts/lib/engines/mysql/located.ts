/**
 * What this engine hands out as a located tool (the seam's shape plus the MySQL program's own
 * facts), and the check that a tool handed back is one of them.
 */
import { KitError } from '../../errors.js';
import type { LocatedTool } from '../engine.js';
import type { MySqlTool } from './tools.js';

export type MySqlLocatedTool = MySqlTool & LocatedTool;

export function mySqlToolOf(tool: LocatedTool): MySqlLocatedTool {
  if (!('flavour' in tool) || !('versionLine' in tool)) throw new KitError('INTERNAL', `${tool.name} (${tool.path}) was not located by the MySQL/MariaDB engine.`);
  return tool as MySqlLocatedTool;
}
