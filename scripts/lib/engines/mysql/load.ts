/**
 * A mariadb-dump script (.sql, or .sql.gz unpacked on the fly) run into one database by the
 * server's own client program, as `mariadb db < dump.sql` would. The client stops at the first
 * failing statement and exits non-zero, which the kit's process primitive turns into a typed error
 * quoting it.
 *
 * The client's flags: --binary-mode, so a dump's binary strings (and a NUL byte in a BLOB that
 * --hex-blob did not cover) are read as bytes, not as the client's own commands; utf8mb4 end to
 * end; a packet limit as large as the protocol allows, since one extended INSERT may be large.
 * DELIMITER lines are the client's own and work in batch mode; the dump's header sets
 * foreign_key_checks and unique_checks off itself.
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { locateMySqlTool, startMySqlTool } from './tools.js';

export interface ScriptFile {
  file: string;
  gzip: boolean;
}

export const CLIENT_LOAD_ARGS = ['--binary-mode', '--default-character-set=utf8mb4', '--max-allowed-packet=1073741824', '--batch', '--silent'] as const;

function scriptStream(source: ScriptFile): Readable {
  const file = createReadStream(source.file);
  if (!source.gzip) return file;
  const gunzip = createGunzip();
  // A damaged .gz fails the gunzip stream, which fails the client's input and so the load.
  return pipeline(file, gunzip, () => undefined);
}

/** Run the script into `database` on the target's server. `what` names the work in a failure. */
export async function loadScript(target: Target, database: string, source: ScriptFile, signal: AbortSignal, what: string): Promise<void> {
  const tool = await locateMySqlTool('mariadb');
  const running = startMySqlTool(tool, target, [...CLIENT_LOAD_ARGS, `--database=${database}`], {
    input: scriptStream(source),
    stdio: ['pipe', 'ignore', 'pipe'],
    failure: 'RESTORE_FAILED',
    signal,
  });
  try {
    await running.done;
  } catch (error) {
    signal.throwIfAborted();
    const message = error instanceof Error ? error.message : String(error);
    throw new KitError('RESTORE_FAILED', `${what} failed: ${message}`);
  }
}
