/**
 * The connections of one restore, opened once and reused: one to the target database (the
 * leftovers check, the pre-checks, the roles, the ANALYZE at the end) and, only when a fresh
 * database is swapped in, one to the server's own database for the swap. Both are closed when
 * the restore ends, whatever happened.
 */
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import type { Client, Engine } from '../engines/engine.js';

export interface Connected {
  client: Client;
  /** The connection is to the target database itself (not to postgres: --create of a missing one). */
  inTarget: boolean;
}

export class RestoreSession {
  private database: Promise<Connected> | undefined;
  private server: Promise<Client> | undefined;

  constructor(
    readonly target: Target,
    private readonly signal: AbortSignal,
    /** The target's engine, looked up once for the whole restore. */
    readonly engine: Engine,
  ) {}

  /**
   * The connection to the target database, made on first use (waiting up to `waitSeconds` for
   * the server). `creating`: a restore that makes the database may find it missing, and then
   * holds the engine's admin connection (the server's own database) instead. A failed attempt is not kept: a later caller may
   * wait longer.
   */
  connect(waitSeconds: number, creating: boolean, onRetry?: (attempt: number, error: KitError) => void): Promise<Connected> {
    if (!this.database) {
      const opening = this.open(waitSeconds, creating, onRetry);
      const forget = () => {
        if (this.database === opening) this.database = undefined;
      };
      // A connection the server ended while it waited (a confirmation left open, an
      // idle_session_timeout) is not handed out again: the next caller connects anew.
      opening.then(({ client }) => client.once?.('end', forget), forget);
      this.database = opening;
    }
    return this.database;
  }

  private async open(waitSeconds: number, creating: boolean, onRetry?: (attempt: number, error: KitError) => void): Promise<Connected> {
    try {
      return { client: await this.engine.connectWithWait(this.target, waitSeconds, onRetry, this.signal), inTarget: true };
    } catch (error) {
      if (!(creating && error instanceof KitError && error.code === 'DATABASE_MISSING')) throw error;
      return { client: await this.engine.adminConnection(this.target), inTarget: false };
    }
  }

  /** The target database's connection if one is open, else undefined (no connection is made). */
  async current(): Promise<Connected | undefined> {
    return this.database?.catch(() => undefined);
  }

  /** The server's own database (postgres, else template1), for a swap that renames the target. */
  admin(): Promise<Client> {
    if (!this.server) {
      this.server = this.engine.adminConnection(this.target);
      this.server.catch(() => (this.server = undefined));
    }
    return this.server;
  }

  /**
   * Let the target database's connection go: a swap ends every session in the target, and the
   * database that comes after it is another one.
   */
  async leaveDatabase(): Promise<void> {
    const open = await this.current();
    this.database = undefined;
    await open?.client.end().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.leaveDatabase();
    const server = await this.server?.catch(() => undefined);
    this.server = undefined;
    await server?.end().catch(() => undefined);
  }
}
