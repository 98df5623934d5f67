/**
 * metadata.json: what a table export holds, written last (an export without it is incomplete).
 * Versioned JSON; never holds a password.
 */

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
  /** format_type(): `integer`, `timestamp with time zone`, `app.mood[]`, … */
  type: string;
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
}

export interface ExportFile {
  file: string;
  bytes: number;
  sha256: string;
}

export interface ExportMetadata {
  schema: typeof EXPORT_SCHEMA;
  version: typeof EXPORT_VERSION;
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
}

export function dataFileName(schema: string, table: string): string {
  // Names keep their own characters; only a path separator or a leading dot could escape data/.
  const safe = (s: string) => s.replace(/[/\\\0]/g, '_').replace(/^\./, '_');
  return `data/${safe(schema)}.${safe(table)}.csv`;
}

export function readExportMetadata(text: string): ExportMetadata | undefined {
  try {
    const parsed = JSON.parse(text) as ExportMetadata;
    return parsed.schema === EXPORT_SCHEMA && parsed.version === EXPORT_VERSION && Array.isArray(parsed.tables) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
