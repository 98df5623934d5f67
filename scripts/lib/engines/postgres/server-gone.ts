import { KitError } from '../../errors.js';
import type { Target } from '../../config/target.js';
import { classifyConnectError, connect } from './connect.js';

/**
 * pg_dump words a vanished server many ways (closed connection, crash of another process, no
 * connection, …). Rather than trust the wording, ask: if the server no longer answers, that is
 * the cause to report.
 */
export async function serverGoneError(error: unknown, target: Target, during = 'backup', after = 'No backup was written'): Promise<KitError | undefined> {
  if (!(error instanceof KitError) || !['PG_DUMP_FAILED', 'ARTIFACT_IMPLAUSIBLE', 'RESTORE_FAILED', 'INTEGRITY_FAILED'].includes(error.code)) return undefined;
  try {
    const probe = await connect(target);
    await probe.end();
    return undefined;
  } catch (raw) {
    if (!classifyConnectError(raw, target).retryable) return undefined;
    return new KitError('SERVER_UNREACHABLE', `The connection to the server was lost during the ${during} (${error.message}). ${after}; check the server and run the ${during} again.`, { cause: error, detail: error.detail });
  }
}
