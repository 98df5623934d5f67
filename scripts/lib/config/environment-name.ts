/**
 * An environment's name becomes a directory (backups/<env>/), a file name (.env.<env>) and a
 * bucket prefix, so it must be a name and never a path: "../../elsewhere" would archive WAL or
 * write backups outside the backup root. Every command checks --env here, and so does every
 * place that turns a name into a path.
 */
import { KitError } from '../errors.js';

export const ENV_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

export function checkEnvironmentName(name: string): string {
  if (!ENV_NAME.test(name) || name.length > 64) {
    throw new KitError('BAD_ARGUMENT', `--env must be a simple name like "dev" or "prod" (letters, digits, - and _, at most 64), got "${name}".`);
  }
  return name;
}
