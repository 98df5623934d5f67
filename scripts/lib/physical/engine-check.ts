/**
 * Physical backups copy a PostgreSQL cluster's files and replay its WAL: an engine without them
 * (MySQL/MariaDB) is refused before anything connects or is written, naming what to use instead.
 */
import { KitError } from '../errors.js';
import { describeTarget, type Target } from '../config/target.js';
import { engineForTarget, environmentOf } from '../engines/registry.js';

export function refuseWithoutPhysicalBackups(target: Target, command: string): void {
  const engine = engineForTarget(target);
  if (environmentOf(engine).physicalBackups) return;
  throw new KitError(
    'PHYSICAL_PRECHECK',
    `${command}: physical backups are PostgreSQL-only, and ${target.env} is a ${engine.label} database (${describeTarget(target)}). Nothing was changed. Back it up with pnpm db:backup${target.env === 'default' ? '' : ` -- --env ${target.env}`} (a consistent logical backup).`,
  );
}
