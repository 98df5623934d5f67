/**
 * metadata.json: what a table export holds, written last (an export without it is incomplete).
 * Versioned JSON; never holds a password.
 */
import type { EngineName, ExtensionInfo } from './metadata.js';

export const EXPORT_SCHEMA = 'pg-backup-kit/export-metadata';
export const EXPORT_VERSION = 1;

/** Session settings every export and import runs with, so values read back exactly. */
export const EXPORT_SESSION_SETTINGS: Readonly<Record<string, string>> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, YMD',
  IntervalStyle: 'postgres',
  extra_float_digits: '1',
  bytea_output: 'hex',
  client_encoding: 'UTF8',
};

export interface ExportColumn {
  name: string;
  /** format_type(): `integer`, `timestamp with time zone`, `app.mood[]`, … (MySQL: COLUMN_TYPE, `varbinary(16)`) */
  type: string;
  /** MySQL: the CSV holds the column's bytes as upper-case hex (binary strings, blobs, BIT, spatial values). */
  encoding?: 'hex';
}

export interface ExportTable {
  /** Quoted as needed: `app.users`, `"My Schema"."Order Items"`. */
  name: string;
  schema: string;
  table: string;
  /** The file under the export, `data/<schema>.<table>.csv`. */
  file: string;
  /** The columns in the CSV, in order (generated columns are not exported). */
  columns: ExportColumn[];
  rows: number;
  bytes: number;
  sha256: string;
  /** A big table's COPY ran in this many ranges of its pages at once (absent: one COPY). */
  ranges?: number;
  /**
   * An extension's configuration table: the filter its extension registered (`WHERE …`); the
   * file holds only the rows it keeps (the extension's own come back with CREATE EXTENSION).
   */
  extensionFilter?: string;
  /** Exports in a differential chain: how this table's file relates to the chain. */
  chain?: ChainTable;
}

/** A table in a chain export (the full one that starts it, or a differential). */
export interface ChainTable {
  /** `changes`: the file holds the rows whose basis column is at or after the lower bound; `full`: every row. */
  mode: 'changes' | 'full';
  /** The basis column and its type; absent for a table exported in full because it is unsuitable. */
  basis: { column: string; type: string } | undefined;
  primaryKey: string[];
  /** Rows the table held at the snapshot: a chain restore checks this count before COMMIT. */
  rowsAtSnapshot: number;
  /** Every primary key at the snapshot, in the chain's key order: what the next export compares with. */
  keys: (ExportFile & { rows: number }) | undefined;
  /** Primary keys present at the previous export and gone at this one. */
  deleted: (ExportFile & { rows: number }) | undefined;
}

export interface ChainInfo {
  /** The id of the chain's full export (itself for the full one). */
  base: string;
  /** The export this one follows (undefined for the full one). */
  parent: string | undefined;
  /** 0 for the full export, then 1, 2, … */
  position: number;
  /** Rows with basis >= this instant were taken (differentials only); exact, UTC. */
  lowerBound: string | undefined;
  /** The snapshot's instant: the state this export describes. */
  upperBound: string;
  /** The next differential's lower bound: no later than the start of the oldest transaction running at the snapshot. */
  nextLowerBound: string;
  /** The zone `timestamp without time zone` basis columns are compared in. */
  timeZone: string;
  /** Tables without a usable basis column or primary key, exported in full every time (--skip-unsuitable), each with why. */
  unsuitable: Array<{ table: string; reason: string }>;
  /** Why a full export was taken instead of a differential, when it was. */
  reason: string | undefined;
}

export interface ExportFile {
  file: string;
  bytes: number;
  sha256: string;
}

export interface ExportMetadata {
  schema: typeof EXPORT_SCHEMA;
  version: typeof EXPORT_VERSION;
  /** The engine the export came from (absent in exports of older kits, which are PostgreSQL's). */
  engine?: EngineName;
  id: string;
  kit: { version: string; node: string };
  server: { version: string; versionNum: number };
  database: { name: string; host: string; port: number; environment: string };
  snapshot: { id: string; takenAt: string; isolation: 'repeatable read' };
  startedAt: string;
  finishedAt: string;
  settings: Record<string, string>;
  scope: { tables: string[]; excludeTables: string[]; schemas: string[]; complete: boolean };
  /**
   * schema.sql is pg_dump's pre-data section followed by its post-data section (together:
   * `--schema-only`); import runs the first `preDataBytes` before the data and the rest after.
   */
  schemaFile: ExportFile & { preDataBytes: number };
  tables: ExportTable[];
  sequences: Record<string, { lastValue: string; isCalled: boolean }>;
  /** Large objects' contents (whole-database exports only), as oid,data CSV. */
  largeObjects: (ExportFile & { count: number }) | undefined;
  /** Exports taken with --differential: the chain this export belongs to. */
  chain?: ChainInfo;
  /** The extensions schema.sql creates, as the source had them (absent in exports of older kits). */
  extensions?: ExtensionInfo[];
}

export function dataFileName(schema: string, table: string): string {
  // Names keep their own characters; only a path separator or a leading dot could escape data/.
  const safe = (s: string) => s.replace(/[/\\\0]/g, '_').replace(/^\./, '_');
  return `data/${safe(schema)}.${safe(table)}.csv`;
}

/** The key list and deleted keys of a chain export's table, beside its data file. */
export function chainFileName(kind: 'keys' | 'deleted', dataFile: string): string {
  return `${kind}/${dataFile.slice('data/'.length)}`;
}

/** Every file an export lists besides metadata.json. */
export function exportFiles(meta: ExportMetadata): Array<ExportFile & { rows?: number }> {
  return [
    meta.schemaFile,
    ...meta.tables,
    ...meta.tables.flatMap((t) => [t.chain?.keys, t.chain?.deleted].filter((f): f is ExportFile & { rows: number } => f !== undefined)),
    ...(meta.largeObjects ? [meta.largeObjects] : []),
  ];
}

export function readExportMetadata(text: string): ExportMetadata | undefined {
  try {
    const parsed = JSON.parse(text) as ExportMetadata;
    return parsed.schema === EXPORT_SCHEMA && parsed.version === EXPORT_VERSION && Array.isArray(parsed.tables) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
