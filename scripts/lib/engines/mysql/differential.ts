/**
 * Differential exports on MySQL/MariaDB: what a chain reads in the export's snapshot.
 *
 * Time. A TIMESTAMP column is stored in UTC and shown in the session's time_zone, which the export
 * sets to '+00:00': its bound is the UTC instant. A DATETIME column has no zone: the application
 * wrote its wall-clock time in some zone (export.differential.timeZone, else the server's
 * @@global.time_zone as a new session gets it), so the instant is turned into that zone's
 * wall-clock time first. Either bound is cut down to the column's fractional digits, because
 * MariaDB truncates NOW(6) into a DATETIME(0): a row stamped 12:00:00 may have been written at
 * 12:00:00.7, after a bound of 12:00:00.5.
 *
 * The race. NOW() and CURRENT_TIMESTAMP are the time a statement STARTED, so a statement running
 * at the snapshot writes rows stamped before it that the snapshot cannot see. The next lower bound
 * is the earliest of: the snapshot's clock; the start of the oldest InnoDB transaction then open
 * (information_schema.INNODB_TRX, less one second, as trx_started is whole seconds and the
 * statement's NOW() came first); and the start of the oldest statement then running
 * (information_schema.PROCESSLIST's TIME_MS, which also covers a statement still waiting for a
 * table lock before InnoDB knows its transaction). Both views show other sessions only to a user
 * with the PROCESS privilege: without it the export is refused.
 *
 * Key order. The kit merges key lists itself (export/key-merge.ts) and checks their order as it
 * reads. The server's ORDER BY on a string compares by its collation (case- and accent-blind,
 * trailing spaces ignored), which is not an order the kit can reproduce; so each key column is
 * sorted by something the kit compares the same way from its CSV text: an integer by value, a
 * binary column by its bytes (its CSV is upper-case hex, which keeps byte order), anything else by
 * the UTF-8 bytes of its text (`CAST(CONVERT(col USING utf8mb4) AS BINARY)`).
 */
import { KitError } from '../../errors.js';
import type { ChangedSince, CsvExportTable } from '../engine.js';
import type { MySqlClient } from './client.js';
import { quoteMySqlIdentifier as quoteMySqlName } from './quote.js';

/** TIMESTAMP and DATETIME, with or without fractional digits. */
export const MYSQL_BASIS = {
  accepts: (type: string) => /^(timestamp|datetime)(\(\d\))?$/i.test(type.trim()),
  named: 'TIMESTAMP or DATETIME',
};

const INTEGER = /^(tinyint|smallint|mediumint|int|integer|bigint)\b/i;

/** An instant as the chain records it ("2026-12-08T01:55:03.123456Z") to MySQL's literal form in UTC. */
function utcLiteral(instant: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?Z?$/.exec(instant);
  if (!m) throw new KitError('CHAIN_BROKEN', `The chain's lower bound "${instant}" is not an instant this kit wrote. Start a new chain: pnpm db:export -- --differential --new-chain`);
  return `${m[1]} ${m[2]}${(m[3] ?? '.').padEnd(7, '0')}`;
}

/** `YYYY-MM-DD HH:MM:SS.ffffff` cut to the column's fractional digits (a lower bound only ever moves earlier). */
export function truncateToColumn(literal: string, type: string): string {
  const digits = Number(/\((\d)\)/.exec(type)?.[1] ?? 0);
  return digits === 0 ? literal.slice(0, 19) : literal.slice(0, 20 + digits);
}

/** A UTC instant's wall-clock time in an IANA zone, with the instant's own fraction. Pure. */
export function wallClockIn(zone: string, utc: string): string {
  const date = new Date(`${utc.slice(0, 19).replace(' ', 'T')}Z`);
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' })
      .formatToParts(date)
      .map((p) => [p.type, p.value]),
  );
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute}:${parts.second}${utc.slice(19)}`;
}

/** The zone name the server takes in SET time_zone ("SYSTEM (CET)" is recorded, "SYSTEM" set). */
const settable = (zone: string) => zone.replace(/ \(.*\)$/, '');

/** The chain's lower bound for one basis column, in the column's own terms, as a SQL literal. */
async function boundFor(client: MySqlClient, since: ChangedSince): Promise<string> {
  const utc = utcLiteral(since.lower);
  let value = utc;
  if (/^datetime/i.test(since.type)) {
    // a zone name (the setting, or one from the server's zone tables) is converted here, by the
    // same rules (IANA); SYSTEM and an offset only the server knows the meaning of
    if (!/^(SYSTEM|[+-]\d)/.test(since.zone)) {
      value = wallClockIn(since.zone, utc);
    } else {
      // the server's zone (SYSTEM, an offset, or a name from its zone tables), converted by the server
      const seconds = (Date.parse(`${utc.slice(0, 19).replace(' ', 'T')}Z`) / 1000).toString() + utc.slice(19);
      await client.query('SET SESSION time_zone = ?', [settable(since.zone)]);
      try {
        const { rows } = await client.query<{ at: string }>("SELECT DATE_FORMAT(FROM_UNIXTIME(?), '%Y-%m-%d %H:%i:%s.%f') AS at", [seconds]);
        value = rows[0]!.at;
      } finally {
        await client.query("SET SESSION time_zone = '+00:00'");
      }
    }
  }
  return `'${truncateToColumn(value, since.type)}'`;
}

/** `WHERE basis >= bound` for a table's changed rows. */
export async function changedSinceSql(client: MySqlClient, since: ChangedSince): Promise<string> {
  return ` WHERE ${quoteMySqlName(since.column)} >= ${await boundFor(client, since)}`;
}

/** The zone DATETIME basis columns are read in: the setting, else the server's global time_zone. */
export async function mySqlBasisZone(client: MySqlClient, configured: string | undefined): Promise<string> {
  if (configured) return configured;
  const { rows } = await client.query<{ zone: string; system: string }>('SELECT @@GLOBAL.time_zone AS zone, @@system_time_zone AS `system`');
  const zone = rows[0]!.zone;
  return zone === 'SYSTEM' ? `SYSTEM (${rows[0]!.system})` : zone;
}

/**
 * The next lower bound, read on the export's connection right after START TRANSACTION WITH
 * CONSISTENT SNAPSHOT (the session in '+00:00'). trx_started is read both as UTC and as the
 * server's system zone (servers differ in which they show it in) and the earlier taken.
 */
export async function readMySqlNextLowerBound(client: MySqlClient): Promise<string> {
  try {
    const { rows } = await client.query<{ bound: string }>(`
      SELECT DATE_FORMAT(LEAST(UTC_TIMESTAMP(6),
        COALESCE((SELECT LEAST(MIN(trx_started), MIN(CONVERT_TZ(trx_started, 'SYSTEM', '+00:00'))) - INTERVAL 1 SECOND
                    FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id <> CONNECTION_ID()), UTC_TIMESTAMP(6)),
        COALESCE((SELECT UTC_TIMESTAMP(6) - INTERVAL MAX(TIME_MS) * 1000 MICROSECOND
                    FROM information_schema.PROCESSLIST
                   WHERE ID <> CONNECTION_ID() AND COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Binlog Dump GTID') AND INFO IS NOT NULL), UTC_TIMESTAMP(6))
      ), '%Y-%m-%dT%H:%i:%s.%fZ') AS bound`);
    return rows[0]!.bound;
  } catch (error) {
    const said = (error as { sqlMessage?: string }).sqlMessage;
    if (!said || !/PROCESS privilege|Access denied/i.test(said)) throw error;
    throw new KitError('BOUNDARY_UNSEEN', `The server hides other sessions' transactions from this user (${said}), so a differential could miss rows written by a transaction running across the export. Grant it that sight (GRANT PROCESS ON *.* TO <user>). Nothing was exported.`);
  }
}

/** SELECT list and ORDER BY for a table's keys, in an order the kit compares from their CSV text. */
export function mySqlKeySql(table: CsvExportTable): { list: string; order: string } {
  const columns = table.primaryKey.map((name) => table.columns.find((c) => c.name === name)!);
  return {
    list: columns.map((c) => quoteMySqlName(c.name)).join(', '),
    order: columns.map((c) => (INTEGER.test(c.type) || c.encoding === 'hex' ? quoteMySqlName(c.name) : `CAST(CONVERT(${quoteMySqlName(c.name)} USING utf8mb4) AS BINARY)`)).join(', '),
  };
}

/** Two integers' decimal texts (no leading zeros, `-` for negatives). */
function compareIntegerText(a: string, b: string): number {
  const [negA, negB] = [a.startsWith('-'), b.startsWith('-')];
  if (negA !== negB) return negA ? -1 : 1;
  const byMagnitude = a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return Math.sign(negA ? -byMagnitude : byMagnitude);
}

/** The kit's side of mySqlKeySql's order. */
export function mySqlKeyOrder(table: CsvExportTable): { compare(a: string[], b: string[]): number; oneInteger: boolean } {
  const integers = table.primaryKey.map((name) => INTEGER.test(table.columns.find((c) => c.name === name)!.type));
  return {
    oneInteger: integers.length === 1 && integers[0]!,
    compare(a, b) {
      for (let i = 0; i < integers.length; i++) {
        const c = integers[i] ? compareIntegerText(a[i]!, b[i]!) : Buffer.compare(Buffer.from(a[i]!, 'utf8'), Buffer.from(b[i]!, 'utf8'));
        if (c !== 0) return c;
      }
      return 0;
    },
  };
}
