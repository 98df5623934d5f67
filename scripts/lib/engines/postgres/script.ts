/**
 * The SQL script of a restore, streamed from pg_restore (or a .sql file) to psql. The kit owns
 * the transaction: it sends BEGIN and its prelude first, and the final checks and COMMIT only
 * after the source has ended cleanly (see applyInTransaction), so a source that dies half-way can
 * never commit half a database.
 *
 * The script is read by the SQL lexer, as psql reads it, and edited as little as possible: only
 * whole top-level statements are ever recognised, never a line inside a string, a function body
 * or a comment. What the kit does with them (scriptPolicy):
 *  - BEGIN … COMMIT pairs of the script itself (pg_restore --single-transaction's own pair, the
 *    per-large-object pairs of a plain pg_dump) are dropped: the kit's one transaction holds them;
 *  - a COMMIT with no BEGIN of the script, a ROLLBACK, or a two-phase command would end the kit's
 *    transaction: the script is refused before psql receives it;
 *  - psql meta-commands other than pg_dump's own \restrict and \unrestrict are refused (a \! runs
 *    a shell command, a \connect changes database);
 *  - pg_dump's "SET lock_timeout = 0" is dropped: the kit's own lock timeout, set first, stays;
 *  - for restores across environments from a .sql file, ownership and privilege statements are
 *    dropped (pg_restore --no-owner/--no-privileges do this for archives).
 */
import { Transform, type TransformCallback } from 'node:stream';
import { KitError } from '../../errors.js';
import { parseCopyTarget } from './dump-stats.js';
import { isPgDumpMetaCommand, SqlLexer, type MetaCommand, type SqlStatement } from '../../format/sql-lexer.js';

export interface ScriptOptions {
  prelude: string;
  dropOwnership: boolean;
  dropPrivileges: boolean;
  /** Called for each TOC section header passed on (progress). */
  onItem?: (header: string) => void;
}

export type StatementAction = 'keep' | 'drop' | 'open' | 'close';

/** What a restore does with one top-level statement. Pure; throws for what it refuses. */
export function statementAction(statement: Pick<SqlStatement, 'command' | 'skeleton'>, options: Pick<ScriptOptions, 'dropOwnership' | 'dropPrivileges'>, scriptTransactionOpen: boolean): StatementAction {
  const words = statement.skeleton.replace(/;$/, '').trim().toUpperCase().split(/\s+/);
  const [first, second] = words;
  switch (statement.command) {
    case 'BEGIN':
    case 'START':
      return 'open';
    case 'COMMIT':
    case 'END':
      if (words.length <= 2 && (second === undefined || second === 'WORK' || second === 'TRANSACTION') && scriptTransactionOpen) return 'close';
      break;
    case 'ROLLBACK':
    case 'ABORT':
      if (first === 'ROLLBACK' && second === 'TO') return 'keep'; // to a savepoint of its own
      break;
    case 'PREPARE':
      if (second === 'TRANSACTION') break;
      return 'keep';
    case 'ALTER':
      if (options.dropOwnership && /^ALTER .* OWNER TO [^ ]+ ?;$/i.test(statement.skeleton)) return 'drop';
      if (options.dropPrivileges && /^ALTER DEFAULT PRIVILEGES /i.test(statement.skeleton)) return 'drop';
      return 'keep';
    case 'GRANT':
    case 'REVOKE':
      return options.dropPrivileges ? 'drop' : 'keep';
    case 'SET':
      // pg_dump turns lock waits unbounded; the kit's own lock timeout (set first) stays
      return /^SET (SESSION |LOCAL )?lock_timeout\b/i.test(statement.skeleton) ? 'drop' : 'keep';
    default:
      return 'keep';
  }
  const shown = statement.skeleton.length > 60 ? `${statement.skeleton.slice(0, 60)}…` : statement.skeleton;
  throw new KitError('SCRIPT_REFUSED', `The script ends or changes the restore's transaction itself ("${shown}" outside any BEGIN of its own), so it cannot be restored all-or-nothing. Restore the backup's .dump instead, or apply the script with psql yourself. Nothing was changed.`);
}

/** pg_dump writes only \restrict and \unrestrict (with a random key) between statements. */
export function checkMetaCommand(meta: Pick<MetaCommand, 'text' | 'textComplete' | 'inStatement'>): void {
  if (isPgDumpMetaCommand(meta)) return;
  const shown = meta.text.length > 60 || !meta.textComplete ? `${meta.text.slice(0, 60)}… (a line too long for pg_dump to have written it)` : meta.text;
  throw new KitError('SCRIPT_REFUSED', `The script holds the psql meta-command "${shown}", which pg_dump never writes (only \\restrict and \\unrestrict); a restore runs only what pg_dump writes. Check where the file came from; to run it anyway, apply it with psql yourself. Nothing was changed.`);
}

/** The policy above, applied statement by statement as a script streams by. */
export class ScriptGuard {
  /** A BEGIN of the script's own is open. */
  transactionOpen = false;
  constructor(private readonly options: Pick<ScriptOptions, 'dropOwnership' | 'dropPrivileges'>) {}

  statement(statement: SqlStatement): StatementAction {
    const action = statementAction(statement, this.options, this.transactionOpen);
    if (action === 'open') this.transactionOpen = true;
    if (action === 'close') this.transactionOpen = false;
    return action;
  }

  metaCommand(meta: MetaCommand): void {
    checkMetaCommand(meta);
  }
}

/** Statements that may have to be dropped or refused: held back until they end. */
const WATCHED = new Set(['BEGIN', 'START', 'COMMIT', 'END', 'ROLLBACK', 'ABORT', 'PREPARE', 'ALTER', 'GRANT', 'REVOKE', 'SET']);
/** A watched statement longer than this is passed on as it goes; it can then no longer be dropped. */
const HOLD_LIMIT = 4 << 20;
/** psql reads a meta-command to its line's end; no line of pg_dump's is anywhere near this. */
const META_LIMIT = 1 << 20;
const TRAILER = '-- PostgreSQL database dump complete';

export class RestoreScript extends Transform {
  private readonly lexer: SqlLexer;
  /** Bytes received and not yet passed on or dropped, starting at absolute offset `pendingStart`. */
  private pending: Buffer = Buffer.alloc(0);
  private pendingStart = 0;
  /** The statement starting here is passed on as it streams (not watched, or too long). */
  private released = -1;
  private started = false;
  private readonly guard: ScriptGuard;
  private trailer = false;
  items = 0;
  /** Tables in the order their COPY statements went by (psql reports "COPY n" in this order). */
  readonly copies: string[] = [];

  constructor(private readonly options: ScriptOptions) {
    super({ highWaterMark: 1 << 18 });
    this.guard = new ScriptGuard(options);
    this.lexer = new SqlLexer({
      statement: (s) => this.onStatement(s),
      metaCommand: (meta) => {
        this.guard.metaCommand(meta);
        this.pass(meta.end);
      },
      comment: (text) => {
        if (text === TRAILER) this.trailer = true;
        else if (text.startsWith('-- Name: ') || text.startsWith('-- Data for Name: ')) {
          this.items++;
          this.options.onItem?.(text.slice(3));
        }
      },
    });
  }

  /** The source's completion trailer went by, and the script ended outside any statement. */
  get complete(): boolean {
    return this.trailer && this.lexer.atTopLevel && !this.guard.transactionOpen;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      if (!this.started) {
        this.started = true;
        this.push(`BEGIN;\n${this.options.prelude}\n`);
      }
      this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
      this.lexer.write(chunk);
      // Pass on everything up to the statement or meta-command still being read, if it is watched.
      const end = this.lexer.offset;
      const meta = this.lexer.metaStart;
      if (meta !== undefined) {
        // a meta-command is never passed on before it has been read whole and checked
        if (end - meta > META_LIMIT) checkMetaCommand({ text: '\\… (a line of over 1 MiB)', textComplete: false, inStatement: true });
        this.pass(meta);
        return callback();
      }
      let hold = this.lexer.unitStart;
      if (hold !== undefined && hold === this.released) hold = undefined;
      const command = this.lexer.pendingCommand;
      if (hold !== undefined && command !== undefined && !WATCHED.has(command)) {
        this.released = hold;
        hold = undefined;
      }
      if (hold !== undefined && end - hold > HOLD_LIMIT) {
        this.released = hold;
        hold = undefined;
      }
      this.pass(hold ?? end);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.lexer.end();
      // An unfinished statement is never passed on: psql would run it at end of input.
      if (this.lexer.atTopLevel) this.pass(this.pendingStart + this.pending.length);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  private onStatement(statement: SqlStatement): void {
    const action = this.guard.statement(statement);
    if (statement.copyFromStdin) this.copies.push(parseCopyTarget(statement.text) ?? statement.text);
    if (action === 'keep') {
      this.pass(statement.end);
      return;
    }
    if (statement.start < this.pendingStart) {
      throw new KitError('SCRIPT_REFUSED', `A statement the restore must leave out is too long to hold back (${statement.skeleton.slice(0, 60)}…). Restore the backup's .dump instead. Nothing was changed.`);
    }
    this.pass(statement.start);
    this.discard(statement.end);
  }

  /** Pass on the pending bytes up to absolute offset `to`. */
  private pass(to: number): void {
    const n = to - this.pendingStart;
    if (n <= 0) return;
    this.push(n === this.pending.length ? this.pending : this.pending.subarray(0, n));
    this.discard(to);
  }

  private discard(to: number): void {
    const n = to - this.pendingStart;
    if (n <= 0) return;
    this.pending = n === this.pending.length ? Buffer.alloc(0) : this.pending.subarray(n);
    this.pendingStart = to;
  }
}
