/**
 * The kit's own connection to the server (node-postgres): pre-flight checks and the transaction
 * that holds the backup's snapshot. Connection failures become KitErrors that say what to do.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { KitError } from '../../errors.js';
import { describeTarget, type Target } from '../../config/target.js';
import { redact } from '../../redact.js';
import { reopenClosedDatabase, type ClosedDatabase } from './scratch-marker.js';
import { traceConnection } from '../../proc/trace.js';

export type Client = pg.Client;

function clientConfig(target: Target): pg.ClientConfig {
  const ssl = target.params.sslmode;
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    application_name: 'pg-backup-kit',
    connectionTimeoutMillis: 10_000,
    ...(target.params.options ? { options: target.params.options } : {}),
    ssl: ssl === 'require' || ssl === 'prefer' ? { rejectUnauthorized: false } : ssl === 'verify-ca' || ssl === 'verify-full' ? true : undefined,
  };
}

interface PgLikeError {
  code?: string;
  message?: string;
}

/** Turn a driver error into the kit's vocabulary; `retryable` marks a server not (yet) there. */
export function classifyConnectError(error: unknown, target: Target): { error: KitError; retryable: boolean } {
  // Already said in the kit's words (a database closed by a killed restore, say).
  if (error instanceof KitError) return { error, retryable: false };
  const e = (error ?? {}) as PgLikeError;
  const where = describeTarget(target);
  const said = redact(e.message ?? String(error));
  switch (e.code) {
    case '28P01':
    case '28000':
      return {
        error: new KitError('AUTH_FAILED', `The server at ${target.host}:${target.port} rejected user "${target.user}" (${said}). Check the user and password in DATABASE_URL (${target.source}).`),
        retryable: false,
      };
    case '3D000':
      return {
        error: new KitError('DATABASE_MISSING', `Database "${target.database}" does not exist on ${target.host}:${target.port}. Check the database name in DATABASE_URL (${target.source}), or create it first.`),
        retryable: false,
      };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return {
        error: new KitError('UNKNOWN_HOST', `Host "${target.host}" could not be resolved. Check the host in DATABASE_URL (${target.source}).`),
        retryable: true,
      };
    case '57P03': // the database system is starting up
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ENOENT':
      return {
        error: new KitError('SERVER_UNREACHABLE', `No PostgreSQL server answers at ${target.host}:${target.port} (${said}). Start the server, check host and port in ${target.source}, or pass --wait <seconds> to wait for it.`),
        retryable: true,
      };
    default:
      if (/timeout/i.test(said)) {
        return {
          error: new KitError('SERVER_UNREACHABLE', `Connecting to ${where} timed out. Check that the server is up and reachable, or pass --wait <seconds>.`),
          retryable: true,
        };
      }
      return { error: new KitError('SERVER_UNREACHABLE', `Could not connect to ${where}: ${said}`), retryable: false };
  }
}

let repairNotice: (message: string) => void = () => undefined;

/** Where a connection reports a repair it made (the CLI sets its reporter); returns the undo. */
export function onConnectionRepair(notice: (message: string) => void): () => void {
  const before = repairNotice;
  repairNotice = notice;
  return () => {
    repairNotice = before;
  };
}

async function openClient(target: Target): Promise<Client> {
  const client = new pg.Client(clientConfig(target));
  // An idle-in-transaction client whose server goes away emits 'error'; without a listener that
  // would crash the process instead of failing the backup through its normal path.
  client.on('error', () => undefined);
  // Some failures during the handshake are only emitted (SCRAM with no password at all, from the
  // URL or ~/.pgpass): without this the connection would wait forever.
  const emitted = new Promise<never>((_, reject) => client.once('error', reject));
  emitted.catch(() => undefined);
  try {
    await Promise.race([client.connect(), emitted]);
    await client.query('SELECT 1');
    traceConnection(target.database);
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/**
 * A database that refuses connections (55000) is asked about once, from the server's other
 * database: a restore killed inside its swap is repaired and the connection made again; any
 * other reason is named with its fix. Every command meets it here, not only a restore.
 */
async function explainClosed(target: Target, error: unknown): Promise<Client> {
  let admin: Client;
  try {
    admin = await openClient({ ...target, database: target.database === 'postgres' ? 'template1' : 'postgres' });
  } catch {
    throw error;
  }
  let closed: ClosedDatabase;
  try {
    closed = await reopenClosedDatabase(admin, target.database, `${target.host}:${target.port}`);
  } catch {
    throw error; // no right to look or to repair: the server's own words stand
  } finally {
    await admin.end().catch(() => undefined);
  }
  if ('error' in closed) throw closed.error;
  repairNotice(closed.reopened);
  return openClient(target);
}

export async function connect(target: Target): Promise<Client> {
  try {
    return await openClient(target);
  } catch (error) {
    if ((error as PgLikeError).code !== '55000') throw error;
    return explainClosed(target, error);
  }
}

/**
 * Connect, retrying while the server is not there yet (a container still starting) for up to
 * `waitSeconds`. Errors that waiting cannot fix (bad password, missing database) fail at once.
 */
export async function connectWithWait(
  target: Target,
  waitSeconds: number,
  onRetry?: (attempt: number, error: KitError) => void,
  signal?: AbortSignal,
): Promise<Client> {
  const deadline = Date.now() + waitSeconds * 1000;
  for (let attempt = 1; ; attempt++) {
    // --wait may be long: Ctrl-C or SIGTERM ends the waiting, not only the next deadline.
    if (signal?.aborted) throw new KitError('INTERRUPTED', `Interrupted while waiting for the server at ${target.host}:${target.port}.`);
    try {
      return await connect(target);
    } catch (raw) {
      const { error, retryable } = classifyConnectError(raw, target);
      if (!retryable || Date.now() >= deadline) {
        if (retryable && waitSeconds > 0) {
          throw new KitError(error.code, `${error.message} Waited ${waitSeconds}s.`, { cause: raw });
        }
        throw error;
      }
      onRetry?.(attempt, error);
      const pause = Math.min(2000, 250 * attempt, Math.max(0, deadline - Date.now()));
      await sleep(pause, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
  }
}

/** 150018 → 15; before PostgreSQL 10 the major version had two parts: 90624 → 9.6. */
export function majorOf(versionNum: number): number {
  return versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 10000) + (Math.floor(versionNum / 100) % 100) / 10;
}

export interface ServerFacts {
  versionNum: number;
  version: string;
  major: number;
  databaseSize: number;
  currentUser: string;
}

export async function serverFacts(client: Client): Promise<ServerFacts> {
  const { rows } = await client.query<{ num: string; version: string; size: string; usr: string }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            pg_database_size(current_database())::text AS size, current_user AS usr`,
  );
  const row = rows[0];
  if (!row) throw new KitError('INTERNAL', 'The server returned no version information.');
  const versionNum = Number(row.num);
  return { versionNum, version: row.version, major: majorOf(versionNum), databaseSize: Number(row.size), currentUser: row.usr };
}
