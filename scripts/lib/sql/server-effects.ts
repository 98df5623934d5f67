/**
 * Statements that act outside the database, where a READ ONLY transaction does not reach:
 * PostgreSQL lets `COPY … TO PROGRAM` run a shell command and `COPY … TO '/file'` write a file in
 * a read-only transaction (no table is written), and the server-admin functions (reload the
 * configuration, end other sessions, read the server's files, switch WAL …) act on the server,
 * not on the transaction's data, so a rollback undoes none of it.
 *
 * The guard reads tokens (sql/tokens.ts), so a call is found in any position: inside a CTE, a
 * subquery, a COPY's query, a cursor, behind comments, in any case, quoted ("pg_reload_conf"),
 * Unicode-escaped (U&"…") or schema-qualified (pg_catalog.…). What it cannot see is a function of
 * the database's own that makes such a call; those are the database's to grant or not.
 */
import type { Token } from './tokens.js';

/**
 * PostgreSQL 15's functions with effects outside the transaction, by what they do. Reading the
 * catalog (`pg_proc` where EXECUTE is revoked from PUBLIC, and the volatile ones) gave the list;
 * contrib's dblink and adminpack add theirs. Listed as names: a schema or a quote changes nothing.
 * Left out on purpose: what only reads the server's state (pg_current_logfile, pg_config,
 * pg_hba_file_rules, pg_show_all_file_settings, pg_get_backend_memory_contexts), and what writes
 * inside the database (lo_create, lo_put, pg_import_system_collations, setval): the kit's
 * read-only transaction ends in a rollback, which undoes those, or the server refuses them.
 */
const SERVER_FUNCTIONS: ReadonlyArray<[string, readonly string[]]> = [
  ['reads or writes files on the database server', [
    'pg_read_file', 'pg_read_binary_file', 'pg_read_file_old', 'pg_stat_file', 'pg_ls_dir', 'pg_ls_logdir', 'pg_ls_waldir',
    'pg_ls_tmpdir', 'pg_ls_archive_statusdir', 'pg_ls_logicalmapdir', 'pg_ls_logicalsnapdir', 'pg_ls_replslotdir',
    'lo_import', 'lo_export', 'pg_file_write', 'pg_file_rename', 'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls',
  ]],
  ['acts on the server or other sessions', [
    'pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_rotate_logfile_old',
    'pg_switch_wal', 'pg_create_restore_point', 'pg_backup_start', 'pg_backup_stop', 'pg_start_backup', 'pg_stop_backup',
    'pg_promote', 'pg_wal_replay_pause', 'pg_wal_replay_resume', 'pg_log_backend_memory_contexts', 'pg_notify',
    'pg_stat_reset', 'pg_stat_reset_shared', 'pg_stat_reset_single_table_counters', 'pg_stat_reset_single_function_counters',
    'pg_stat_reset_slru', 'pg_stat_reset_replication_slot', 'pg_stat_reset_subscription_stats', 'pg_stat_statements_reset',
    'pg_import_system_collations', 'pg_stop_making_pinned_objects',
    'brin_summarize_range', 'brin_summarize_new_values', 'brin_desummarize_range', 'gin_clean_pending_list',
  ]],
  ['changes replication slots or origins', [
    'pg_create_physical_replication_slot', 'pg_create_logical_replication_slot', 'pg_drop_replication_slot',
    'pg_copy_physical_replication_slot', 'pg_copy_logical_replication_slot', 'pg_replication_slot_advance',
    'pg_logical_slot_get_changes', 'pg_logical_slot_get_binary_changes', 'pg_logical_emit_message',
  ]],
  ['takes an advisory lock, which other sessions wait on', [
    'pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared',
    'pg_try_advisory_lock', 'pg_try_advisory_lock_shared', 'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared',
  ]],
  ['runs SQL from a string, which the kit cannot read', ['query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'ts_stat', 'ts_rewrite']],
];

/** Families named by their prefix: every member acts outside the transaction. */
const SERVER_FUNCTION_PREFIXES: ReadonlyArray<[string, string]> = [
  ['dblink', 'connects to another server'],
  ['pg_replication_origin_', 'changes replication slots or origins'],
  ['binary_upgrade_', 'is pg_upgrade’s own and changes the catalog'],
];

const SERVER_FUNCTION_REASON = new Map(SERVER_FUNCTIONS.flatMap(([why, names]) => names.map((name) => [name, why] as const)));

/** The name a word or quoted identifier stands for: words fold to lower case, quoted ones do not. */
export function nameOf(token: Token | undefined): string | undefined {
  if (token?.kind === 'word') return token.value.toLowerCase();
  if (token?.kind === 'ident') return token.text;
  return undefined;
}

/** Why calling `name` acts outside the database, or undefined. */
export function serverFunctionReason(name: string): string | undefined {
  return SERVER_FUNCTION_REASON.get(name) ?? SERVER_FUNCTION_PREFIXES.find(([prefix]) => name.startsWith(prefix))?.[1];
}

/** Is the token at `i` a call (a name followed by an opening parenthesis)? */
function isCall(tokens: Token[], i: number): boolean {
  const next = tokens[i + 1];
  return next?.kind === 'punct' && next.value === '(';
}

/** COPY's direction and where to, at the statement's own depth (not inside its query). */
function copyEndpoint(tokens: Token[]): { direction: string; to: Token | undefined } | undefined {
  let depth = 0;
  for (let i = 1; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct' && t.value === '(') depth++;
    else if (t.kind === 'punct' && t.value === ')') depth--;
    else if (depth === 0 && t.kind === 'word' && (t.value === 'TO' || t.value === 'FROM')) return { direction: t.value, to: tokens[i + 1] };
  }
  return undefined;
}

/** What a COPY does outside the database: a program or a server file; STDOUT and STDIN are the client's. */
function copyReason(tokens: Token[]): string | undefined {
  const endpoint = copyEndpoint(tokens);
  if (!endpoint) return undefined;
  const { direction, to } = endpoint;
  if (to?.kind === 'word' && (to.value === 'STDOUT' || to.value === 'STDIN')) return undefined;
  if (to?.kind === 'word' && to.value === 'PROGRAM') return `COPY … ${direction} PROGRAM runs a shell command on the database server`;
  const file = to?.kind === 'string' ? `'${to.text}'` : 'a file';
  return `COPY … ${direction} ${file} ${direction === 'TO' ? 'writes' : 'reads'} a file on the database server`;
}

/**
 * Why the statement acts outside the database (the first reason found), or undefined: COPY to
 * or from a program or a server file, or a call of a server function anywhere in it.
 */
export function serverEffect(tokens: Token[]): string | undefined {
  if (tokens[0]?.kind === 'word' && tokens[0].value === 'COPY') {
    const reason = copyReason(tokens);
    if (reason) return reason;
  }
  for (let i = 0; i < tokens.length; i++) {
    // TO/FROM PROGRAM only means COPY; wherever it stands, it is never part of a read
    const [t, next] = [tokens[i]!, tokens[i + 1]];
    if (t.kind === 'word' && (t.value === 'TO' || t.value === 'FROM') && next?.kind === 'word' && next.value === 'PROGRAM') return `COPY … ${t.value} PROGRAM runs a shell command on the database server`;
    const name = nameOf(t);
    if (name === undefined || !isCall(tokens, i)) continue;
    const why = serverFunctionReason(name);
    if (why) return `${name}() ${why}`;
  }
  return undefined;
}

/** Is the COPY a copy to the client (`COPY … TO STDOUT`)? */
export function copiesToClient(tokens: Token[]): boolean {
  const endpoint = copyEndpoint(tokens);
  return endpoint?.direction === 'TO' && endpoint.to?.kind === 'word' && endpoint.to.value === 'STDOUT';
}
