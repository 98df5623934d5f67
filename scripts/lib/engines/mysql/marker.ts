/**
 * The databases a MySQL/MariaDB restore or deep verify makes beside the target, and how a later
 * run recognises them after a kit killed outright. Each one carries a database COMMENT (MariaDB
 * 10.5+; MySQL 8 has no database comments and is not tested here) naming its purpose, the
 * database it serves, and the process that made it, as the PostgreSQL engine marks its scratch
 * databases.
 */
import { hostname } from 'node:os';
import type { MySqlClient } from './client.js';

/** "restore of": the copy a restore loads; "previous copy of": where the swap parks the target's tables. */
export type MarkerPurpose = 'restore of' | 'previous copy of' | 'verification of';

export interface Marker {
  purpose: MarkerPurpose;
  database: string;
  pid: number;
  host: string;
}

const MARKER = /^pg-backup-kit scratch: (restore of|previous copy of|verification of) "(.*)" by pid (\d+) on (.*)$/s;

export function markerText(purpose: MarkerPurpose, database: string, pid = process.pid, host = hostname()): string {
  return `pg-backup-kit scratch: ${purpose} "${database}" by pid ${pid} on ${host}`;
}

export function parseMarker(comment: string | null | undefined): Marker | undefined {
  const match = comment ? MARKER.exec(comment) : null;
  return match ? { purpose: match[1] as MarkerPurpose, database: match[2]!, pid: Number(match[3]), host: match[4]! } : undefined;
}

export function quoteName(name: string): string {
  return '`' + name.replaceAll('`', '``') + '`';
}

/** A string literal for SQL the kit writes itself (backslashes are escapes under the default sql_mode). */
export function quoteString(value: string): string {
  return "'" + value.replaceAll('\\', '\\\\').replaceAll("'", "''") + "'";
}

const MAX_NAME_CHARS = 64;

/** A name beside the target's: recognisable, unique per run, at most 64 characters. Pure. */
export function kitDatabaseName(database: string, suffix: string, stamp: string): string {
  const tail = `_${suffix}_${stamp}`;
  const head = [...database].slice(0, Math.max(0, MAX_NAME_CHARS - [...tail].length)).join('');
  return head + tail;
}

export interface DatabaseFacts {
  exists: boolean;
  charset: string;
  collation: string;
}

export async function databaseFacts(client: MySqlClient, name: string): Promise<DatabaseFacts> {
  const { rows } = await client.query<{ cs: string; co: string }>(
    'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [name],
  );
  const row = rows[0];
  return row ? { exists: true, charset: row.cs, collation: row.co } : { exists: false, charset: 'utf8mb4', collation: 'utf8mb4_unicode_ci' };
}

/** Create an empty database marked as this process's, with the character set and collation given. */
export async function createMarkedDatabase(client: MySqlClient, name: string, purpose: MarkerPurpose, database: string, facts: DatabaseFacts): Promise<void> {
  await client.query(`CREATE DATABASE ${quoteName(name)} CHARACTER SET ${facts.charset} COLLATE ${facts.collation} COMMENT ${quoteString(markerText(purpose, database))}`);
}

/** Drop a database the kit made; never throws: returns why it could not, for the caller to say. */
export async function dropKitDatabase(client: MySqlClient, name: string): Promise<string | undefined> {
  try {
    await client.query(`DROP DATABASE IF EXISTS ${quoteName(name)}`);
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

export interface MarkedDatabase {
  name: string;
  marker: Marker;
}

/** Every database on the server that carries a kit marker. */
export async function markedDatabases(client: MySqlClient): Promise<MarkedDatabase[]> {
  const { rows } = await client.query<{ name: string; comment: string | null }>(
    "SELECT SCHEMA_NAME AS name, SCHEMA_COMMENT AS comment FROM information_schema.SCHEMATA WHERE SCHEMA_COMMENT LIKE 'pg-backup-kit scratch: %'",
  );
  return rows.flatMap((row) => {
    const marker = parseMarker(row.comment);
    return marker ? [{ name: row.name, marker }] : [];
  });
}
