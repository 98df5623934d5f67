/**
 * Test support: compute a comparable "fingerprint" of a PostgreSQL database so
 * that a restored copy can be checked against its source.
 *
 * The fingerprint covers:
 *   - schema:       normalized `pg_dump --schema-only --no-owner --no-privileges`
 *   - tables:       row count + md5 of the sorted row texts for every ordinary
 *                   table / leaf partition (relkind 'r', read with FROM ONLY so
 *                   inheritance parents do not include their children) and every
 *                   materialized view (relkind 'm')
 *   - sequences:    last_value + is_called of every sequence (incl. identity/serial)
 *   - largeObjects: md5 of every large object's content, keyed by oid
 *
 * Connection details are passed to pg_dump only through the child's
 * environment (PGHOST, PGPORT, ...); the password never appears in argv.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import pg from 'pg';

export interface DatabaseFingerprint {
  /** Normalized schema-only dump text. */
  schema: string;
  /** Key: schema-qualified, quoted-as-needed name, e.g. `app.users` or `"My Schema"."Order Items"`. */
  tables: Record<string, { rows: number; md5: string }>;
  /** Key: schema-qualified, quoted-as-needed sequence name. */
  sequences: Record<string, { last_value: string; is_called: boolean }>;
  /** Key: large object oid (decimal string); value: md5 of its content. */
  largeObjects: Record<string, string>;
  /** "<kind> <name> owner=<role> acl=<acl>" for every schema, relation, column ACL, routine, type, large object and default ACL, sorted. */
  ownership: string[];
}

/** Owners and privileges, which the schema part (dumped without them) leaves out. */
const OWNERSHIP_SQL = `
  WITH user_ns AS (SELECT oid, nspname FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%')
  SELECT line FROM (
    SELECT format('schema %I owner=%s acl=%s', n.nspname, pg_get_userbyid(n.nspowner), coalesce(n.nspacl::text, '')) AS line FROM pg_namespace n JOIN user_ns u ON u.oid = n.oid
    UNION ALL
    SELECT format('relation %I.%I owner=%s acl=%s', u.nspname, c.relname, pg_get_userbyid(c.relowner), coalesce(c.relacl::text, '')) FROM pg_class c JOIN user_ns u ON u.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
    UNION ALL
    SELECT format('column %I.%I.%I acl=%s', u.nspname, c.relname, a.attname, a.attacl::text) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN user_ns u ON u.oid = c.relnamespace WHERE a.attacl IS NOT NULL AND NOT a.attisdropped
    UNION ALL
    SELECT format('routine %s owner=%s acl=%s', p.oid::regprocedure::text, pg_get_userbyid(p.proowner), coalesce(p.proacl::text, '')) FROM pg_proc p JOIN user_ns u ON u.oid = p.pronamespace
    UNION ALL
    SELECT format('type %s owner=%s acl=%s', t.oid::regtype::text, pg_get_userbyid(t.typowner), coalesce(t.typacl::text, '')) FROM pg_type t JOIN user_ns u ON u.oid = t.typnamespace WHERE t.typrelid = 0 AND t.typelem = 0
    UNION ALL
    SELECT format('large object %s owner=%s acl=%s', l.oid, pg_get_userbyid(l.lomowner), coalesce(l.lomacl::text, '')) FROM pg_largeobject_metadata l
    UNION ALL
    SELECT format('default acl %s in %s for %s acl=%s', pg_get_userbyid(d.defaclrole), coalesce(n.nspname, '*'), d.defaclobjtype, d.defaclacl::text) FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
  ) x ORDER BY line COLLATE "C"`;

export interface FingerprintOptions {
  /** Directory holding pg_dump. Default: /usr/lib/postgresql/15/bin */
  pgBin?: string;
}

const DEFAULT_PG_BIN = '/usr/lib/postgresql/15/bin';

/** Placeholder md5 for a materialized view that is WITH NO DATA (it cannot be read). */
const UNPOPULATED_MD5 = 'unpopulated';

/**
 * Session settings applied before reading data, so that the text form of
 * every value (timestamps, intervals, floats, bytea, money, reg* types) does
 * not depend on per-database or per-role defaults.
 */
const SESSION_SETTINGS: ReadonlyArray<readonly [string, string]> = [
  ['TimeZone', 'UTC'],
  ['DateStyle', 'ISO, YMD'],
  ['IntervalStyle', 'postgres'],
  ['extra_float_digits', '3'],
  ['bytea_output', 'hex'],
  ['lc_monetary', 'C'],
  ['search_path', 'pg_catalog'],
  ['statement_timeout', '0'],
];

interface ConnectionEnv {
  PGHOST?: string;
  PGPORT?: string;
  PGUSER?: string;
  PGPASSWORD?: string;
  PGDATABASE?: string;
  PGSSLMODE?: string;
}

/** Translate a postgresql:// URL into libpq environment variables. */
function connectionEnvFromUrl(url: string): ConnectionEnv {
  const parsed = new URL(url);
  if (parsed.protocol !== 'postgresql:' && parsed.protocol !== 'postgres:') {
    throw new Error(`fingerprintDatabase: expected a postgresql:// URL, got protocol "${parsed.protocol}"`);
  }
  const env: ConnectionEnv = {};
  // `new URL` keeps IPv6 literals bracketed; libpq wants them bare.
  const host = decodeURIComponent(parsed.hostname).replace(/^\[(.*)\]$/, '$1');
  const queryHost = parsed.searchParams.get('host');
  if (queryHost) env.PGHOST = queryHost;
  else if (host) env.PGHOST = host;
  env.PGPORT = parsed.port || parsed.searchParams.get('port') || '5432';
  if (parsed.username) env.PGUSER = decodeURIComponent(parsed.username);
  if (parsed.password) env.PGPASSWORD = decodeURIComponent(parsed.password);
  const db = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (db) env.PGDATABASE = db;
  const sslmode = parsed.searchParams.get('sslmode');
  if (sslmode) env.PGSSLMODE = sslmode;
  return env;
}

/** Child environment: inherited env minus any PG* variables, plus ours. */
function childEnv(conn: ConnectionEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('PG')) env[key] = value;
  }
  return { ...env, ...conn };
}

function runPgDumpSchema(pgDump: string, env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(pgDump, ['--schema-only', '--no-owner', '--no-privileges'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (e) => reject(new Error(`fingerprintDatabase: failed to start ${pgDump}: ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) {
        resolve(Buffer.concat(out).toString('utf8'));
      } else {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        reject(
          new Error(
            `fingerprintDatabase: pg_dump --schema-only exited with ${code ?? `signal ${signal ?? 'unknown'}`}` +
              (stderr ? `: ${stderr}` : ''),
          ),
        );
      }
    });
  });
}

/**
 * Normalize a schema-only dump: drop `--` comment lines, blank lines, SET and
 * `SELECT pg_catalog.set_config(...)` lines, and psql `\restrict` /
 * `\unrestrict` meta-commands (whose key is random per dump).
 */
export function normalizeSchemaDump(dump: string): string {
  return dump
    .split(/\r?\n/)
    .filter((line) => {
      if (line.trim() === '') return false;
      if (line.startsWith('--')) return false;
      if (line.startsWith('SET ')) return false;
      if (line.startsWith('SELECT pg_catalog.set_config(')) return false;
      if (line.startsWith('\\restrict') || line.startsWith('\\unrestrict')) return false;
      return true;
    })
    .join('\n');
}

type RelationRow = {
  name: string;
  relkind: string;
  populated: boolean;
};

type TableHashRow = {
  rows: string;
  md5: string;
};

type SequenceRow = {
  last_value: string;
  is_called: boolean;
};

type LargeObjectRow = {
  oid: string;
  md5: string;
};

const RELATIONS_SQL = `
  SELECT format('%I.%I', n.nspname, c.relname) AS name,
         c.relkind::text AS relkind,
         c.relispopulated AS populated
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'm', 'S')
     AND n.nspname NOT IN ('pg_catalog', 'information_schema')
     AND n.nspname !~ '^pg_toast'
     AND n.nspname !~ '^pg_temp_'
   ORDER BY n.nspname COLLATE "C", c.relname COLLATE "C"`;

async function fingerprintData(
  client: pg.Client,
): Promise<Pick<DatabaseFingerprint, 'tables' | 'sequences' | 'largeObjects'>> {
  for (const [name, value] of SESSION_SETTINGS) {
    await client.query('SELECT pg_catalog.set_config($1, $2, false)', [name, value]);
  }

  const tables: DatabaseFingerprint['tables'] = {};
  const sequences: DatabaseFingerprint['sequences'] = {};
  const largeObjects: DatabaseFingerprint['largeObjects'] = {};

  // A single snapshot for all reads, so the fingerprint is self-consistent.
  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const relations = await client.query<RelationRow>(RELATIONS_SQL);
    for (const rel of relations.rows) {
      // rel.name comes from format('%I.%I'), so it is safely quoted.
      if (rel.relkind === 'S') {
        const res = await client.query<SequenceRow>(
          `SELECT last_value::text AS last_value, is_called FROM ${rel.name}`,
        );
        const row = res.rows[0];
        if (!row) throw new Error(`fingerprintDatabase: sequence ${rel.name} returned no row`);
        sequences[rel.name] = { last_value: row.last_value, is_called: row.is_called };
      } else if (rel.relkind === 'm' && !rel.populated) {
        tables[rel.name] = { rows: -1, md5: UNPOPULATED_MD5 };
      } else {
        const res = await client.query<TableHashRow>(
          `SELECT count(*)::text AS rows,
                  md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text COLLATE "C"), '')) AS md5
             FROM ONLY ${rel.name} AS t`,
        );
        const row = res.rows[0];
        if (!row) throw new Error(`fingerprintDatabase: table ${rel.name} returned no row`);
        tables[rel.name] = { rows: Number(row.rows), md5: row.md5 };
      }
    }

    const los = await client.query<LargeObjectRow>(
      `SELECT oid::text AS oid, md5(pg_catalog.lo_get(oid)) AS md5
         FROM pg_catalog.pg_largeobject_metadata
        ORDER BY oid`,
    );
    for (const lo of los.rows) largeObjects[lo.oid] = lo.md5;

    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw e;
  }

  return { tables, sequences, largeObjects };
}

/**
 * Fingerprint the database at `url` (postgresql://user:pass@host:port/db).
 * Two databases with the same schema and data produce deep-equal results,
 * regardless of their names.
 */
export async function fingerprintDatabase(url: string, opts?: FingerprintOptions): Promise<DatabaseFingerprint> {
  const pgDump = path.join(opts?.pgBin ?? DEFAULT_PG_BIN, 'pg_dump');
  const env = childEnv(connectionEnvFromUrl(url));

  const schemaPromise = runPgDumpSchema(pgDump, env).then(normalizeSchemaDump);
  // Avoid an unhandled rejection if the data part fails first.
  schemaPromise.catch(() => undefined);

  const client = new pg.Client({ connectionString: url });
  let data: Pick<DatabaseFingerprint, 'tables' | 'sequences' | 'largeObjects'>;
  let ownership: string[];
  try {
    await client.connect();
    data = await fingerprintData(client);
    ownership = (await client.query<{ line: string }>(OWNERSHIP_SQL)).rows.map((r) => r.line);
  } finally {
    await client.end().catch(() => undefined);
  }

  const schema = await schemaPromise;
  return { schema, ...data, ownership };
}
