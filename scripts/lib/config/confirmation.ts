/**
 * The one gate in front of every command that changes a database's contents (restore, sync,
 * drop, import…): --force answers the question without a terminal (--yes is an alias, parsed in
 * the CLI layer), a protected environment also needs --confirm <database name>, and without a
 * terminal and without --force nothing happens.
 */
import { KitError } from '../errors.js';

export interface ConsentFlags {
  /** --force (or its alias --yes): no prompt. */
  force: boolean;
  /** --confirm <database>: the typed name a protected target needs. */
  confirm: string | undefined;
}

export interface ConsentTarget {
  env: string;
  database: string;
  host: string;
  port: number;
  protected: boolean;
}

export interface ConsentAction {
  /** "restore into it", "drop everything there": completes "To … without a prompt". */
  withoutPrompt: string;
  /** Why a terminal is needed, e.g. "Restoring replaces data in app on localhost:5432". */
  needsConfirmation: string;
}

/**
 * 'granted' when the flags suffice; 'ask' when a terminal is there to ask (a protected target
 * then needs its name typed). Throws PROTECTED_TARGET or NOT_CONFIRMED otherwise.
 */
export function checkConsent(target: ConsentTarget, flags: ConsentFlags, interactive: boolean, action: ConsentAction): 'granted' | 'ask' {
  const confirmFlag = target.protected ? ` --confirm ${target.database}` : '';
  if (flags.force) {
    if (target.protected && flags.confirm !== target.database) {
      const got = flags.confirm !== undefined ? ` (got --confirm ${flags.confirm})` : '';
      throw new KitError('PROTECTED_TARGET', `"${target.env}" is a protected environment. To ${action.withoutPrompt} without a prompt, pass --force${confirmFlag}${got}.`);
    }
    return 'granted';
  }
  if (!interactive) {
    throw new KitError('NOT_CONFIRMED', `${action.needsConfirmation}, and there is no terminal to confirm it. Pass --force${confirmFlag} to ${action.withoutPrompt} without a prompt.`);
  }
  return 'ask';
}
