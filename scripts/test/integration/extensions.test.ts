/**
 * Extensions as pg_dump treats them, on an application database built on the extensions real
 * applications use (PostGIS and pg_partman from Debian's packages, and PostgreSQL's contrib
 * modules): every backup format restores it identically, deep verify passes, an export keeps the
 * user's rows of extension configuration tables (a custom SRID, pg_partman's part_config), and a
 * restore or import onto a server that lacks an extension the backup needs is refused before
 * anything changes.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, query, readInfo, urlFor } from '../support/harness.js';

/** 68 integer columns with 60-character names: a COPY statement longer than 4 KB. */
const WIDE_COLUMNS = Array.from({ length: 68 }, (_, i) => `c${String(i).padStart(2, '0')}_`.padEnd(60, 'x'));

const APPLICATION_SQL = `
CREATE EXTENSION postgis;
CREATE SCHEMA partman;
CREATE EXTENSION pg_partman SCHEMA partman;
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE EXTENSION pg_trgm;
CREATE EXTENSION ltree;
CREATE EXTENSION btree_gist;
CREATE EXTENSION pgcrypto;
CREATE EXTENSION "uuid-ossp";
CREATE EXTENSION unaccent;

-- A projection of the application's own, beside PostGIS's: a row pg_dump keeps (its filter
-- leaves out only the SRIDs PostGIS itself ships).
INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, srtext, proj4text)
VALUES (990001, 'kit', 990001, 'LOCAL_CS["kit test grid"]', '+proj=longlat +datum=WGS84 +no_defs');

CREATE TABLE places (
  id uuid PRIMARY KEY DEFAULT uuid_generate_v4(),
  name citext NOT NULL UNIQUE,
  tags hstore,
  path ltree,
  secret bytea DEFAULT digest('x', 'sha256'),
  zone int NOT NULL,
  geom geometry(Point, 990001),
  during tstzrange,
  EXCLUDE USING gist (zone WITH =, during WITH &&)
);
CREATE INDEX places_name_trgm ON places USING gin ((name::text) gin_trgm_ops);
CREATE INDEX places_geom ON places USING gist (geom);
INSERT INTO places (name, zone, tags, path, geom, during)
SELECT 'Café ' || i, i % 3, hstore('k', i::text), text2ltree('top.area' || i), ST_SetSRID(ST_MakePoint(i, i / 2.0), 990001),
       tstzrange('2026-01-01'::timestamptz + i * interval '1 day', '2026-01-02'::timestamptz + i * interval '1 day')
  FROM generate_series(1, 50) AS i;
CREATE VIEW place_names AS SELECT unaccent(name::text) AS plain FROM places;

CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL, what text) PARTITION BY RANGE (at);
SELECT partman.create_parent('public.events', 'at', 'native', 'daily', p_start_partition := '2026-12-01');
INSERT INTO events (at, what) SELECT '2026-12-01'::timestamptz + i * interval '1 hour', 'e' || i FROM generate_series(0, 47) AS i;

CREATE TABLE wide (${WIDE_COLUMNS.map((c) => `${c} int`).join(', ')});
INSERT INTO wide SELECT ${WIDE_COLUMNS.map((_, i) => `g + ${i}`).join(', ')} FROM generate_series(1, 3) AS g;
`;

const customSrid = (url: string) => query(url, 'SELECT srid, auth_name, proj4text FROM spatial_ref_sys WHERE srid = 990001');
const partConfig = (url: string) => query(url, 'SELECT parent_table, control, partition_interval FROM partman.part_config');

describe('extensions as pg_dump treats them', () => {
  let source: { name: string; url: string };
  beforeAll(async () => {
    source = await createDatabase({ sql: APPLICATION_SQL });
  });

  it('every format restores an extension-heavy database identically, custom SRID and part_config included, and deep verify passes', async () => {
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${source.url}\n` });
    const backup = await takeBackup(project, source.url);
    const info = readInfo(project, backup.id);
    expect(info.extensions?.map((e) => e.name)).toEqual(['btree_gist', 'citext', 'hstore', 'ltree', 'pg_partman', 'pg_trgm', 'pgcrypto', 'postgis', 'unaccent', 'uuid-ossp']);
    expect(info.extensions?.find((e) => e.name === 'pg_partman')).toMatchObject({ schema: 'partman', version: expect.stringMatching(/^\d+\.\d+/) });
    const expected = await fingerprint(source.url);
    expect(await customSrid(source.url)).toHaveLength(1);
    expect(await partConfig(source.url)).toEqual([{ parent_table: 'public.events', control: 'at', partition_interval: '1 day' }]);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
      const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(await fingerprint(target.url), format).toEqual(expected);
      expect(await customSrid(target.url), format).toEqual(await customSrid(source.url));
      expect(await partConfig(target.url), format).toEqual(await partConfig(source.url));
    }
    for (const format of ['sql', 'dump', 'tar']) {
      const deep = await cli('verify', [backup.id, '--deep', '--artifact', format], { cwd: project });
      expect(deep.code, `${format}: ${deep.stdout}${deep.stderr}`).toBe(0);
    }
  }, 900_000);

  it('export then import keeps the custom SRID row and pg_partman\'s configuration (as a directory and as a zip)', async () => {
    const project = makeProject();
    const expected = await fingerprint(source.url);
    for (const zip of [[], ['--zip']]) {
      const exported = await cli('db-export', ['--json', ...zip], { cwd: project, env: { DATABASE_URL: source.url } });
      expect(exported.code, exported.stderr).toBe(0);
      const target = await createDatabase();
      const run = await cli('db-import', [exported.json<{ path: string }>().path, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, run.stderr).toBe(0);
      expect(await customSrid(target.url), zip.join()).toEqual(await customSrid(source.url));
      expect(await partConfig(target.url), zip.join()).toEqual(await partConfig(source.url));
      expect(await fingerprint(target.url), zip.join()).toEqual(expected);
    }
  }, 600_000);

  it('a differential chain carries the configuration rows too: each export takes them whole, through their filter', async () => {
    const db = await createDatabase({ sql: APPLICATION_SQL });
    const project = makeProject();
    const exportChain = async () => {
      const run = await cli('db-export', ['--differential', '--skip-unsuitable', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
      expect(run.code, run.stderr).toBe(0);
      return run.json<{ id: string; chain: { position: number } }>();
    };
    const base = await exportChain();
    await query(db.url, `INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990003, 'kit', 990003, '+proj=longlat');
      UPDATE partman.part_config SET premake = 7 WHERE parent_table = 'public.events'`);
    const next = await exportChain();
    expect(next.chain.position).toBe(1);
    const target = await createDatabase();
    const run = await cli('db-import', [base.id, '--until', 'latest', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(target.url, 'SELECT srid FROM spatial_ref_sys WHERE srid >= 990000 ORDER BY srid')).toEqual([{ srid: 990001 }, { srid: 990003 }]);
    expect(await query(target.url, 'SELECT premake FROM partman.part_config')).toEqual([{ premake: 7 }]);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(db.url));
  }, 600_000);

  it('a partial import of spatial_ref_sys replaces the application\'s rows and keeps PostGIS\'s own', async () => {
    const project = makeProject();
    const exported = await cli('db-export', ['--json', '--table', 'public.spatial_ref_sys'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(exported.code, exported.stderr).toBe(0);
    const target = await createDatabase({ sql: "CREATE EXTENSION postgis; INSERT INTO spatial_ref_sys (srid, auth_name, auth_srid, proj4text) VALUES (990002, 'stale', 990002, '+proj=longlat')" });
    const before = await query<{ n: string }>(target.url, 'SELECT count(*) AS n FROM spatial_ref_sys');
    const run = await cli('db-import', [exported.json<{ path: string }>().path, '--table', 'public.spatial_ref_sys', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(target.url, 'SELECT srid FROM spatial_ref_sys WHERE srid >= 990000 ORDER BY srid')).toEqual([{ srid: 990001 }]);
    expect(await query<{ n: string }>(target.url, 'SELECT count(*) AS n FROM spatial_ref_sys')).toEqual(before);
  }, 300_000);
});

/**
 * A real extension, written into the server's own extension directory for this test and taken
 * away again: the backup is made while the server offers it, the restore meets a server that
 * offers an older version, then none at all (as when the target's package is missing).
 */
describe('a target server without an extension the backup needs', () => {
  const name = `kit_test_ext_${randomBytes(4).toString('hex')}`;
  let dir: string;
  const files = (version: string) => ({ control: path.join(dir, `${name}.control`), script: path.join(dir, `${name}--${version}.sql`) });
  const install = (version: string) => {
    writeFileSync(files(version).control, `default_version = '${version}'\nrelocatable = true\ncomment = 'pg-backup-kit test extension'\n`);
    writeFileSync(files(version).script, `CREATE FUNCTION kit_test_ext_version() RETURNS text LANGUAGE sql AS $$ SELECT '${version}' $$;\n`);
  };
  const remove = () => {
    for (const version of ['1.0', '2.0']) for (const file of Object.values(files(version))) rmSync(file, { force: true });
  };

  beforeAll(async () => {
    const [row] = await query<{ setting: string }>(urlFor('postgres'), "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'");
    dir = path.join(row!.setting, 'extension');
  });
  afterAll(() => remove());

  it('restore and import are refused before anything changes, naming the extension, both versions and what to install', async () => {
    install('2.0');
    const source = await createDatabase({ sql: `CREATE EXTENSION ${name}; CREATE TABLE t AS SELECT kit_test_ext_version() AS v` });
    const project = makeProject();
    const backup = await takeBackup(project, source.url);
    expect(readInfo(project, backup.id).extensions).toEqual([{ name, version: '2.0', schema: 'public' }]);
    const exported = await cli('db-export', ['--json'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(exported.code, exported.stderr).toBe(0);
    const target = await createDatabase({ sql: 'CREATE TABLE keep (x int); INSERT INTO keep VALUES (1), (2)' });
    const untouched = await fingerprint(target.url);

    remove();
    install('1.0');
    for (const format of ['sql', 'dump']) {
      const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(16);
      expect(run.stderr).toContain(`${name} 2.0: the server offers 1.0, older than the backup's (upgrade its package (on Debian/Ubuntu usually postgresql-15-kit-test-ext-${name.slice('kit_test_ext_'.length)}) to 2.0 or later)`);
      expect(run.stderr).toContain('Install them on the database server itself (for PostgreSQL 15), then run this again. Nothing was changed.');
      expect(await fingerprint(target.url), format).toEqual(untouched);
    }

    remove();
    const restore = await cli('pg-restore', [fileOf(backup, 'dump'), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(restore.code, restore.stderr).toBe(16);
    expect(restore.stderr).toContain(`${name} 2.0: the server offers no ${name} (install its package (on Debian/Ubuntu usually postgresql-15-kit-test-ext-`);
    const imported = await cli('db-import', [exported.json<{ path: string }>().path, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(imported.code, imported.stderr).toBe(16);
    expect(imported.stderr).toContain(`${name} 2.0: the server offers no ${name}`);
    expect(await fingerprint(target.url)).toEqual(untouched);
  }, 600_000);
});
