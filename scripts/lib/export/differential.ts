/**
 * The tables of a chain export, from the export's snapshot. A full one (the chain's start) writes
 * every row plus each table's sorted primary-key list; a differential writes, per table, the rows
 * whose basis column is at or after the lower bound (`basis >= lower`: with an index on the basis
 * column only those rows are read), the key list, and the keys that disappeared since the previous
 * export (a streamed merge of the two lists).
 *
 * The race: `updated_at = now()` stamps a row with its transaction's START, so a transaction that
 * began before an export and commits after it writes rows older than that export's snapshot that
 * the snapshot could not see. The next lower bound is therefore read before the snapshot is taken:
 * no later than the start of the oldest transaction then running in the database (autovacuum and
 * WAL senders aside: they write no rows).
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { KitError } from '../errors.js';
import type { Client } from '../engines/postgres/connect.js';
import type { LocatedTool } from '../engines/postgres/tools.js';
import { literal } from '../engines/postgres/quote.js';
import { keyComparator, keyKind, keySql } from '../engines/postgres/key-order.js';
import { csvHeaderLine } from '../format/csv.js';
import { chainFileName, type ChainInfo, type ChainTable, type ExportFile, type ExportMetadata, type ExportTable } from '../format/export-metadata.js';
import type { DifferentialConfig } from '../config/schema.js';
import { copySource, copyToFile } from '../engines/postgres/copy.js';
import { writeDeletedKeys, writeIntegerKeyUnion, writeKeyUnion } from './key-merge.js';
import { rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { chainMembers, decideChain, DEFAULT_MAX_CHAIN, DEFAULT_MAX_SHARE, judgeTables, latestMember, POSTGRES_BASIS, unsuitableError, type BasisTypes, type ChainMember, type ChainTableShape, type Suitability } from './chain.js';
import type { SnapshotTable } from '../engines/postgres/snapshot.js';
import { openExport } from './source.js';

/**
 * The next differential's lower bound, read BEFORE the snapshot: the earlier of now and the start
 * of every transaction running in this database. A transaction that starts after this read stamps
 * its rows later than it; one running now is counted. Refused when the server hides other
 * sessions' transactions from this user (pg_read_all_stats lets it see them).
 */
export async function readNextLowerBound(client: Client): Promise<string> {
  const { rows } = await client.query<{ bound: string; hidden: string }>(`
    SELECT least(clock_timestamp(), min(xact_start))::text AS bound,
           count(*) FILTER (WHERE query = '<insufficient privilege>')::text AS hidden
      FROM pg_catalog.pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid()
       AND coalesce(backend_type, '') NOT IN ('autovacuum worker', 'walsender')`);
  if (Number(rows[0]!.hidden) > 0) {
    throw new KitError('BOUNDARY_UNSEEN', `The server hides other sessions' transactions from this user (${rows[0]!.hidden} in this database), so a differential could miss rows written by a transaction running across the export. Grant it that sight (GRANT pg_read_all_stats TO <user>), or export as a superuser. Nothing was exported.`);
  }
  return rows[0]!.bound;
}

/** The zone `timestamp without time zone` basis columns are written in: the setting, else the database's own TimeZone. */
export async function basisTimeZone(client: Client, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const { rows } = await client.query<{ zone: string }>(`SELECT reset_val AS zone FROM pg_catalog.pg_settings WHERE name = 'TimeZone'`);
  return rows[0]!.zone;
}

/** `basis >= lower`, the instant compared as one: a timestamp (without zone) column is read in `zone`. */
export function changedSince(column: string, type: string, lower: string, zone: string): string {
  const col = `"${column.replace(/"/g, '""')}"`;
  const instant = `${literal(lower)}::timestamptz`;
  return type === 'timestamp with time zone' ? `${col} >= ${instant}` : `${col} >= (${instant} AT TIME ZONE ${literal(zone)})`;
}

function columnList(t: SnapshotTable): string {
  return t.columns.map((c) => `"${c.name.replace(/"/g, '""')}"`).join(', ');
}

/**
 * Changed rows of the tables that are differential, counted in the snapshot before anything is
 * written (tables exported in full every time are left out: a new chain would not shrink them).
 */
export async function countChanges(client: Client, tables: SnapshotTable[], judged: Suitability, lower: string, zone: string): Promise<number> {
  let total = 0;
  for (const t of tables) {
    const basis = judged.suitable.get(t.name);
    if (!basis) continue;
    const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${t.name} WHERE ${changedSince(basis.column, basis.type, lower, zone)}`);
    total += Number(rows[0]!.n);
  }
  return total;
}

export async function hashFile(file: string): Promise<ExportFile> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { file: '', bytes, sha256: hash.digest('hex') };
}

export interface ChainTableJob {
  /** The export's own session, inside the snapshot. */
  client: Client;
  psql: LocatedTool;
  env: NodeJS.ProcessEnv;
  snapshotId: string;
  /** Where a file of the export is written, from its path inside the export. */
  place: (rel: string) => string;
  signal: AbortSignal;
  judged: Suitability;
  /** Differentials: the export followed, its lower bound and zone; undefined for a chain's full export. */
  previous: { member: ChainMember; lower: string; zone: string } | undefined;
}

/** One table of a chain export: its data file, key list and (differentials) deleted keys. */
export async function exportChainTable(job: ChainTableJob, t: SnapshotTable, file: string): Promise<ExportTable> {
  const basis = job.judged.suitable.get(t.name);
  const keyColumns = t.primaryKey.map((name) => t.columns.find((c) => c.name === name)!);
  const changesOnly = job.previous !== undefined && basis !== undefined;
  const where = changesOnly ? ` WHERE ${changedSince(basis.column, basis.type, job.previous!.lower, job.previous!.zone)}` : '';
  const keysFile = chainFileName('keys', file);
  const { list, order } = keySql(keyColumns);
  const keysQuery = `(SELECT ${list} FROM ONLY ${t.name}${where} ORDER BY ${order})`;
  // The rows and the keys are read at the same time, each by its own psql in the snapshot: for a
  // differential, the keys of the changed rows only (the key list is then found without the rest),
  // while the export's own session counts the table's rows.
  const rowCount = changesOnly ? countRows(job.client, t) : undefined;
  rowCount?.catch(() => undefined);
  const [data, keys] = await Promise.all([
    copyToFile(job.psql, job.env, job.snapshotId, t.extensionFilter ? copySource(t) : `(SELECT ${columnList(t)} FROM ONLY ${t.name}${where})`, job.place(file), job.signal),
    basis ? copyToFile(job.psql, job.env, job.snapshotId, keysQuery, job.place(changesOnly ? changedKeysFile(keysFile) : keysFile), job.signal) : undefined,
  ]);
  const chain: ChainTable = { mode: changesOnly ? 'changes' : 'full', basis, primaryKey: t.primaryKey, rowsAtSnapshot: data.rows, keys: undefined, deleted: undefined };
  if (keys && !changesOnly) {
    chain.keys = { file: keysFile, bytes: keys.bytes, sha256: keys.sha256, rows: keys.rows };
  } else if (keys) {
    const { list, order } = keySql(keyColumns);
    const reader: KeyReader = {
      compare: keyComparator(keyColumns),
      oneInteger: keyColumns.length === 1 && keyKind(keyColumns[0]!.type) === 'integer',
      readAll: async (into) => (await copyToFile(job.psql, job.env, job.snapshotId, `(SELECT ${list} FROM ONLY ${t.name} ORDER BY ${order})`, into, job.signal)).rows,
    };
    Object.assign(chain, await differentialKeys(job, t, reader, keysFile, chainFileName('deleted', file), await rowCount!));
  }
  chain.rowsAtSnapshot = chain.keys?.rows ?? data.rows;
  const filter = t.extensionFilter ? { extensionFilter: t.extensionFilter } : {};
  return { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, rows: data.rows, bytes: data.bytes, sha256: data.sha256, ...filter, chain };
}

/** Beside the key list while the export runs: the keys of the changed rows, removed once merged. */
export function changedKeysFile(keysFile: string): string {
  return keysFile.replace(/^keys\//, 'keys/.changed-');
}

/** The table's rows in the snapshot. */
async function countRows(client: Client, t: SnapshotTable): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*)::text AS n FROM ONLY ${t.name}`);
  return Number(rows[0]!.n);
}

/** How a differential reads a table's keys: their order, and every key of the table when the cheap way does not fit. */
export interface KeyReader {
  compare(a: string[], b: string[]): number;
  /** One integer key column: merged on bytes (writeIntegerKeyUnion). */
  oneInteger: boolean;
  /** Every key of the table at the snapshot, in the chain's key order, into `file`; how many. */
  readAll(file: string): Promise<number>;
}

/**
 * A differential's key list and deleted keys. First the cheap way: the previous key list joined
 * with the changed rows' keys holds as many keys as the table has rows now only if no previous key
 * is gone (every key that is new since is a changed row's), and then it IS the key list. Otherwise
 * every key is read from the server and the two lists are compared.
 */
export async function differentialKeys(job: Pick<ChainTableJob, 'previous' | 'place'>, t: { name: string; primaryKey: string[] }, keys: KeyReader, keysFile: string, deletedFile: string, now: number): Promise<Pick<ChainTable, 'keys' | 'deleted'>> {
  const member = job.previous!.member;
  const before = member.metadata.tables.find((p) => p.name === t.name)?.chain?.keys;
  if (!before) throw new KitError('CHAIN_BROKEN', `${member.metadata.id} holds no key list for ${t.name}. Start a new chain: pnpm db:export -- --differential --new-chain`);
  const changedPath = job.place(changedKeysFile(keysFile));
  const names = { previous: `${before.file} of ${member.metadata.id}`, changed: `${t.name}'s changed keys` };
  const union = await withPrevious(job, before.file, (previous) =>
    writeTo(job.place(keysFile), (out) => {
      const changed = createReadStream(changedPath, { highWaterMark: 1 << 20 });
      return keys.oneInteger ? writeIntegerKeyUnion(previous, changed, out, names) : writeKeyUnion(previous, changed, keys.compare, out, names);
    }),
  );
  await rm(changedPath, { force: true });
  const rowsNow = union === now ? union : await keys.readAll(job.place(keysFile));
  const deleted =
    union === now
      ? await writeTo(job.place(deletedFile), async (out) => {
          out.write(csvHeaderLine(t.primaryKey));
          return 0;
        })
      : await withPrevious(job, before.file, (previous) =>
          writeTo(job.place(deletedFile), (out) => writeDeletedKeys(previous, createReadStream(job.place(keysFile), { highWaterMark: 1 << 20 }), keys.compare, out, { previous: `${before.file} of ${member.metadata.id}`, current: `${t.name}'s key list` })),
        );
  const listed = await hashFile(job.place(keysFile));
  return {
    keys: { ...listed, file: keysFile, rows: rowsNow },
    deleted: { ...(await hashFile(job.place(deletedFile))), file: deletedFile, rows: deleted },
  };
}

/** Run `work` on the previous export's copy of `file`, closing the export afterwards. */
async function withPrevious<T>(job: Pick<ChainTableJob, 'previous'>, file: string, work: (input: AsyncIterable<Buffer>) => Promise<T>): Promise<T> {
  const location = job.previous!.member.location;
  const source = await openExport(location, path.dirname(location), path.dirname(location));
  try {
    return await work((await source.open(file)) as AsyncIterable<Buffer>);
  } finally {
    source.close();
  }
}

/** Write a file through `work`, closed (and its data on its way to disk) before this returns. */
export async function writeTo<T>(file: string, work: (out: Writable) => Promise<T>): Promise<T> {
  const out = createWriteStream(file, { mode: 0o600 });
  const closed = once(out, 'close');
  try {
    return await work(out);
  } finally {
    out.end();
    await closed;
  }
}

/** What deciding a chain asks of the export's server, inside the export's snapshot. */
export interface ChainServer {
  /** The zone basis columns without a zone are read in: the setting, else the server's own. */
  timeZone(configured: string | undefined): Promise<string>;
  /** The snapshot's instant (the chain's upperBound). */
  snapshotTime(): Promise<string>;
  /** Rows of the differential tables whose basis column is at or after `lower`. */
  countChanges(judged: Suitability, lower: string, zone: string): Promise<number>;
  /** The column types a basis column may have. */
  basisTypes: BasisTypes;
}

/** PostgreSQL's answers, on the export's session. */
export function postgresChainServer(client: Client, tables: SnapshotTable[]): ChainServer {
  return {
    timeZone: (configured) => basisTimeZone(client, configured),
    snapshotTime: async () => (await client.query<{ at: string }>('SELECT transaction_timestamp()::text AS at')).rows[0]!.at,
    countChanges: (judged, lower, zone) => countChanges(client, tables, judged, lower, zone),
    basisTypes: POSTGRES_BASIS,
  };
}

export interface ChainPlan {
  job: Pick<ChainTableJob, 'judged' | 'previous'>;
  /** The chain record, but for a full export's base, which is its own id and not known yet. */
  info: Omit<ChainInfo, 'base'> & { base: string | undefined };
}

export interface ChainSettings {
  config: DifferentialConfig;
  skipUnsuitable: boolean;
  newChain: boolean;
  envDir: string;
  nextLowerBound: string;
  notice(message: string): void;
}

/**
 * Judge the tables (refusing unsuitable ones unless --skip-unsuitable), find the export to follow,
 * and decide: a differential, or a full export that starts a new chain (said on stderr and in the
 * metadata) when there is none to follow, the chain is long enough, the tables changed, or the
 * changes are more than maxShare of the chain's full export.
 */
export async function prepareChain(server: ChainServer, tables: ChainTableShape[], scope: ExportMetadata['scope'], settings: ChainSettings): Promise<ChainPlan> {
  const judged = judgeTables(tables, settings.config, server.basisTypes);
  if ((judged.unsuitable.length && !settings.skipUnsuitable) || judged.unknown.length) throw unsuitableError(judged, server.basisTypes);
  const zone = await server.timeZone(settings.config.timeZone);
  const upperBound = await server.snapshotTime();
  const latest = latestMember(await chainMembers(settings.envDir), scope);
  let { parent, reason } = decideChain(latest, { tables, judged, timeZone: zone, maxChain: settings.config.maxChain ?? DEFAULT_MAX_CHAIN, newChain: settings.newChain });
  if (parent) {
    const changed = await server.countChanges(judged, parent.metadata.chain.nextLowerBound, zone);
    const share = settings.config.maxShare ?? DEFAULT_MAX_SHARE;
    const baseRows = await baseRowCount(parent);
    if (changed > share * baseRows) {
      reason = `${changed} changed rows are more than ${share * 100}% of the ${baseRows} rows of the chain's full export (export.differential.maxShare)`;
      parent = undefined;
    }
  }
  if (reason && latest) settings.notice(`taking a full export that starts a new chain: ${reason}`);
  const previous = parent ? { member: parent, lower: parent.metadata.chain.nextLowerBound, zone } : undefined;
  return {
    job: { judged, previous },
    info: {
      base: parent?.metadata.chain.base,
      parent: parent?.metadata.id,
      position: parent ? parent.metadata.chain.position + 1 : 0,
      lowerBound: previous?.lower,
      upperBound,
      nextLowerBound: settings.nextLowerBound,
      timeZone: zone,
      unsuitable: judged.unsuitable,
      reason: parent ? undefined : reason,
    },
  };
}

/** Rows of the chain's full export in the tables that are differential. */
async function baseRowCount(member: ChainMember): Promise<number> {
  const chain = member.metadata.chain;
  const rowsOf = (meta: ExportMetadata) => meta.tables.reduce((n, t) => n + (t.chain?.keys ? t.rows : 0), 0);
  if (chain.position === 0) return rowsOf(member.metadata);
  const base = (await chainMembers(path.dirname(member.location))).find((m) => m.metadata.id === chain.base);
  if (!base) throw new KitError('CHAIN_BROKEN', `The chain's full export ${chain.base} is gone, so ${member.metadata.id} cannot be followed. Start a new chain: pnpm db:export -- --differential --new-chain`);
  return rowsOf(base.metadata);
}
