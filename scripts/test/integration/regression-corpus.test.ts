/**
 * PostgreSQL's own regression database (see support/regression-corpus.ts), treated as
 * PostgreSQL's pg_upgrade test treats it: dumped, restored, dumped again and compared. Here the
 * kit backs it up in every format and restores each artifact; the result must be what psql and
 * pg_restore make of the same artifact, and what the source was, and deep verify must pass.
 *
 * It runs on a cluster of its own: the database has a tablespace, publications, event triggers
 * and settings no other test should meet on the shared cluster.
 */
import { createReadStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createGunzip } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { fileOf } from '../support/backups.js';
import { cli, cluster, makeProject, query, runTool } from '../support/harness.js';
import { differences, normalizeDump, regressionCorpus, type RegressionCorpus } from '../support/regression-corpus.js';

// A whole build of the corpus takes minutes on two busy cores; it happens once per version.
const BUILD_TIMEOUT = 30 * 60_000;
const FORMAT_TIMEOUT = 15 * 60_000;

let corpus: RegressionCorpus;
let server: Cluster;
let sourceUrl: string;
let project: string;
let backup: BackupResult;
let dumps: string;
let expected: string;
let counter = 0;

async function freshDatabase(): Promise<string> {
  const name = `corpus_${++counter}`;
  await query(server.url('postgres'), `CREATE DATABASE ${name} TEMPLATE template0`);
  return server.url(name);
}

async function dropDatabase(url: string): Promise<void> {
  await query(server.url('postgres'), `DROP DATABASE ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
}

/** The whole database as plain SQL, schema and data, owners and privileges included, normalized. */
async function dumpOf(url: string, name: string): Promise<string> {
  const file = path.join(dumps, `${name}.sql`);
  await runTool('pg_dump', ['--no-sync', '-f', file], url);
  writeFileSync(file, normalizeDump(readFileSync(file, 'utf8')));
  return file;
}

/** PostgreSQL's own way to restore an artifact into an empty database. */
async function restoredByPostgres(format: string, file: string, url: string): Promise<void> {
  if (format === 'dump' || format === 'tar') {
    await runTool('pg_restore', ['--exit-on-error', '--single-transaction', '--dbname', new URL(url).pathname.slice(1), file], url);
  } else {
    const input = format === 'sql.gz' ? createReadStream(file).pipe(createGunzip()) : createReadStream(file);
    await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', '-'], url, input);
  }
}

describe("PostgreSQL's regression database", () => {
  beforeAll(async () => {
    corpus = await regressionCorpus(cluster().binDir);
    server = await startCluster();
    dumps = mkdtempSync(path.join(tmpdir(), 'pgkit-corpus-dumps-'));
    sourceUrl = await freshDatabase();
    await runTool('pg_restore', ['--exit-on-error', '--single-transaction', '--dbname', new URL(sourceUrl).pathname.slice(1), corpus.dump], sourceUrl);
    expected = await dumpOf(sourceUrl, 'source');
    project = makeProject();
    const run = await cli('pg-backup', ['--json'], { cwd: project, env: { DATABASE_URL: sourceUrl } });
    expect(run.code, run.stderr).toBe(0);
    backup = run.json<BackupResult>();
  }, BUILD_TIMEOUT);

  afterAll(async () => {
    await server?.destroy();
    if (dumps) rmSync(dumps, { recursive: true, force: true });
  });

  it('is the corpus it claims to be: a table of 1,102 columns and hundreds of relations', async () => {
    // create_table.sql's extra_wide_table: its COPY column list alone is longer than 4 KB.
    const [wide] = await query<{ columns: number }>(sourceUrl, "SELECT relnatts::int AS columns FROM pg_class WHERE oid = 'public.extra_wide_table'::regclass");
    expect(wide?.columns).toBeGreaterThan(1000);
    const [objects] = await query<{ n: number }>(sourceUrl, "SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'");
    expect(objects!.n).toBeGreaterThan(corpus.whole ? 900 : 300);
  });

  it.each(['sql', 'sql.gz', 'dump', 'tar'])('%s: the kit restores what psql/pg_restore restore, and deep verify passes', async (format) => {
    const file = fileOf(backup, format);
    const theirs = await freshDatabase();
    await restoredByPostgres(format, file, theirs);
    const byPostgres = await dumpOf(theirs, `${format}-postgres`);
    await dropDatabase(theirs);

    const ours = await freshDatabase();
    const run = await cli('pg-restore', [file, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: ours } });
    expect(run.code, `${format}: ${run.stderr}`).toBe(0);
    const byKit = await dumpOf(ours, `${format}-kit`);
    await dropDatabase(ours);

    expect(differences(byPostgres, byKit), `${format}: the kit's restore differs from PostgreSQL's`).toBe('');
    expect(differences(expected, byPostgres), `${format}: PostgreSQL's own restore differs from the source`).toBe('');

    const verify = await cli('verify', [backup.id, '--deep', '--artifact', format], { cwd: project, env: { DATABASE_URL: sourceUrl } });
    expect(verify.code, `${format}: ${verify.stdout}${verify.stderr}`).toBe(0);
  }, FORMAT_TIMEOUT);
});
