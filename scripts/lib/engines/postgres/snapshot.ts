/**
 * What an export reads from its snapshot through the kit's own connection: the tables and their
 * columns, the sequences, and whether there are large objects. Every COPY and pg_dump then
 * imports the same snapshot, so all of it describes one instant.
 */
import type { Client } from './connect.js';
import { EXPORT_SESSION_SETTINGS, type ExportColumn } from '../../format/export-metadata.js';
import { literal } from './quote.js';

export interface SnapshotTable {
  oid: number;
  schema: string;
  table: string;
  /** Quoted as needed (`app.users`, `"My Schema"."Order Items"`). */
  name: string;
  columns: ExportColumn[];
  /** Primary key columns, in key order; empty without one. */
  primaryKey: string[];
  /** Estimated size on disk (pg_class.relpages: read without locking the table), to schedule the biggest first. */
  bytes: number;
  /** The same estimate in pages, to cut a big table into ranges (absent: not known, one range). */
  pages?: number;
  /**
   * An extension's configuration table (pg_extension_config_dump): the filter its extension
   * registered (`WHERE …`, pg_extension.extcondition), absent when every row is the user's.
   */
  extensionFilter?: string;
  /** The table belongs to an extension that registered it as configuration: its user rows are exported. */
  extensionConfig?: boolean;
}

export interface OpenSnapshot {
  id: string;
  takenAt: string;
}

export function sessionSettingsSql(): string {
  return Object.entries(EXPORT_SESSION_SETTINGS).map(([k, v]) => `SET ${k} = ${literal(v)};`).join('\n');
}

/** Begin the export's transaction and export its snapshot for the other sessions. */
export async function openSnapshot(client: Client): Promise<OpenSnapshot> {
  await client.query(sessionSettingsSql());
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  const { rows } = await client.query<{ id: string; at: Date }>('SELECT pg_export_snapshot() AS id, transaction_timestamp() AS at');
  return { id: rows[0]!.id, takenAt: rows[0]!.at.toISOString() };
}

/**
 * Ordinary tables and leaf partitions (a partitioned parent holds no rows of its own), outside
 * the system schemas, as pg_dump would dump their data. Columns are those `COPY table TO` writes:
 * not dropped, not generated. Of the tables an extension owns, only those it registered as
 * configuration (pg_extension.extconfig) are read, with the filter it registered beside them:
 * pg_dump dumps exactly `SELECT … FROM table <extcondition>` of those, since the rest of their
 * rows (PostGIS's own spatial_ref_sys entries) come back with CREATE EXTENSION.
 */
export async function readTables(client: Client): Promise<SnapshotTable[]> {
  const { rows } = await client.query<{ oid: number; schema: string; table: string; name: string; columns: ExportColumn[] | null; pk: string[] | null; bytes: string; pages: string; config: boolean; filter: string | null }>(`
    SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS "table",
           format('%I.%I', n.nspname, c.relname) AS name,
           (SELECT json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
              FROM pg_attribute a
             WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
           (SELECT array_agg(a.attname::text ORDER BY k.ord)
              FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
             WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
           (c.relpages::bigint * current_setting('block_size')::bigint)::text AS bytes, c.relpages::text AS pages,
           x.oid IS NOT NULL AS config, x.extcondition[array_position(x.extconfig, c.oid)] AS filter
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_extension x ON c.oid = ANY (x.extconfig)
     WHERE c.relkind = 'r'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
       AND (x.oid IS NOT NULL OR NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'))
     ORDER BY n.nspname, c.relname`);
  return rows.map((r) => ({
    oid: r.oid, schema: r.schema, table: r.table, name: r.name, columns: r.columns ?? [], primaryKey: r.pk ?? [], bytes: Number(r.bytes), pages: Number(r.pages),
    ...(r.config ? { extensionConfig: true } : {}),
    ...(r.filter?.trim() ? { extensionFilter: r.filter.trim() } : {}),
  }));
}

/**
 * Sequence positions as of the snapshot: every sequence for a whole-database export, else those
 * owned by (serial or identity columns of) the exported tables. An extension's sequences are left
 * to CREATE EXTENSION, unless it registered one as configuration (pg_dump keeps its value then).
 */
export async function readSequences(client: Client, tableOids: number[] | undefined): Promise<Record<string, { lastValue: string; isCalled: boolean }>> {
  const { rows } = await client.query<{ name: string }>(`
    SELECT format('%I.%I', n.nspname, c.relname) AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind = 'S' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND (NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
            OR EXISTS (SELECT 1 FROM pg_extension x WHERE c.oid = ANY (x.extconfig)))
       AND ($1::int[] IS NULL OR EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                          AND d.refobjid = ANY($1::int[]) AND d.deptype IN ('a', 'i')))
     ORDER BY 1`, [tableOids ?? null]);
  const out: Record<string, { lastValue: string; isCalled: boolean }> = {};
  for (const { name } of rows) {
    const state = await client.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${name}`);
    out[name] = { lastValue: state.rows[0]!.last_value, isCalled: state.rows[0]!.is_called };
  }
  return out;
}

export async function countLargeObjects(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_largeobject_metadata');
  return Number(rows[0]!.n);
}
