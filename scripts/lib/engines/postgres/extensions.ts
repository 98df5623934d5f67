/**
 * Extensions a backup needs on the server it is restored to. pg_dump writes `CREATE EXTENSION IF
 * NOT EXISTS name WITH SCHEMA s` without a version, so the target installs its default version of
 * each: the extension's files must be installed on that server (a package, for PostGIS and most
 * others), and that default must not be older than the version the backup's objects were made
 * with. Both are checked before anything changes.
 */
import { KitError } from '../../errors.js';
import type { Client } from '../engine.js';

export interface ExtensionUse {
  name: string;
  /** The version installed in the source database; undefined when only the name is known (an archive's TOC). */
  version: string | undefined;
  schema?: string;
}

export interface ExtensionOffer {
  name: string;
  /** What CREATE EXTENSION without a version installs. */
  defaultVersion: string;
}

/**
 * The extensions a whole-database pg_dump creates, as of the caller's transaction: every one but
 * those built into the server (plpgsql), which pg_dump never writes a CREATE EXTENSION for.
 */
export async function readExtensions(client: Client): Promise<Array<{ name: string; version: string; schema: string }>> {
  const { rows } = await client.query<{ name: string; version: string; schema: string }>(`
    SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.oid >= 16384
     ORDER BY e.extname`);
  return rows;
}

/**
 * `a` compared with `b` (negative: older). Extension versions are free text; the usual dotted
 * numbers compare part by part as numbers, any other part as text, a missing part as older.
 */
export function compareExtensionVersions(a: string, b: string): number {
  const pa = a.split(/[.-]/);
  const pb = b.split(/[.-]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const [x, y] = [pa[i], pb[i]];
    if (x === undefined || y === undefined) return x === undefined ? -1 : 1;
    const [nx, ny] = [Number(x), Number(y)];
    const order = /^\d+$/.test(x) && /^\d+$/.test(y) ? nx - ny : x.localeCompare(y);
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

const POSTGIS = ['postgis', 'postgis_raster', 'postgis_topology', 'postgis_sfcgal', 'postgis_tiger_geocoder', 'address_standardizer', 'address_standardizer_data_us'];

/** PostgreSQL's own contrib modules: Debian ships them inside the server package. */
const CONTRIB = ['adminpack', 'amcheck', 'autoinc', 'bloom', 'btree_gin', 'btree_gist', 'citext', 'cube', 'dblink', 'dict_int', 'dict_xsyn', 'earthdistance', 'file_fdw', 'fuzzystrmatch', 'hstore', 'insert_username', 'intagg', 'intarray', 'isn', 'lo', 'ltree', 'moddatetime', 'old_snapshot', 'pageinspect', 'pg_buffercache', 'pg_freespacemap', 'pg_prewarm', 'pg_stat_statements', 'pg_surgery', 'pg_trgm', 'pg_visibility', 'pg_walinspect', 'pgcrypto', 'pgrowlocks', 'pgstattuple', 'postgres_fdw', 'refint', 'seg', 'sslinfo', 'tablefunc', 'tcn', 'tsm_system_rows', 'tsm_system_time', 'unaccent', 'uuid-ossp', 'xml2'];

/** The Debian/Ubuntu (apt.postgresql.org too) package that usually provides an extension. Pure. */
export function packageHint(name: string, serverMajor: number): string {
  if (CONTRIB.includes(name)) return `postgresql-${serverMajor} (PostgreSQL's contrib modules; other platforms package them as postgresql${serverMajor}-contrib)`;
  if (POSTGIS.includes(name)) return `postgresql-${serverMajor}-postgis-3`;
  if (name === 'pg_partman') return `postgresql-${serverMajor}-partman`;
  return `its package (on Debian/Ubuntu usually postgresql-${serverMajor}-${name.replace(/^pg_/, '').replace(/_/g, '-')})`;
}

/**
 * Each extension the backup needs that the server cannot give it, in words: not available at all,
 * or its default version older than the backup's. Pure.
 */
export function extensionProblems(needed: ExtensionUse[], offered: ExtensionOffer[], serverMajor: number): string[] {
  const problems: string[] = [];
  for (const use of needed) {
    const offer = offered.find((o) => o.name === use.name);
    const wanted = use.version ? `${use.name} ${use.version}` : use.name;
    if (!offer) {
      problems.push(`${wanted}: the server offers no ${use.name} (install ${packageHint(use.name, serverMajor)})`);
    } else if (use.version && compareExtensionVersions(offer.defaultVersion, use.version) < 0) {
      problems.push(`${wanted}: the server offers ${offer.defaultVersion}, older than the backup's (upgrade ${packageHint(use.name, serverMajor)} to ${use.version} or later)`);
    }
  }
  return problems;
}

/** Refuse, naming every problem, when the server lacks an extension the backup creates. */
export async function checkExtensionsAvailable(client: Client, needed: ExtensionUse[], server: string, serverMajor: number): Promise<void> {
  if (needed.length === 0) return;
  const { rows } = await client.query<ExtensionOffer>(
    'SELECT name, default_version AS "defaultVersion" FROM pg_catalog.pg_available_extensions WHERE name = ANY($1)',
    [needed.map((e) => e.name)],
  );
  const problems = extensionProblems(needed, rows, serverMajor);
  if (problems.length === 0) return;
  throw new KitError(
    'MISSING_EXTENSIONS',
    `The backup creates extensions that ${server} cannot provide:\n  ${problems.join('\n  ')}\n` +
      `Install them on the database server itself (for PostgreSQL ${serverMajor}), then run this again. Nothing was changed.`,
  );
}
