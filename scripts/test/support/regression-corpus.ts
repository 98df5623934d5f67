/**
 * PostgreSQL's own regression database as a test corpus: a database nobody on this project wrote,
 * with about every kind of object PostgreSQL has. The scripts come from Debian's source package of
 * the installed server (`apt-get source`, which needs a deb-src entry: scripts/setup.sh adds one).
 *
 * The database is built the way pg_regress builds it (the scripts of parallel_schedule in its
 * order, each in its own psql, their deliberate errors ignored) on a throw-away cluster of its own,
 * because the scripts create roles, a tablespace and databases that other tests must not see.
 * What pg_dump itself cannot round-trip is then removed (REMOVALS, each with its reason), as
 * PostgreSQL's pg_upgrade test does before it compares dumps. The result is cached as a custom-format
 * dump, keyed by the source version and this file's content, so that a run
 * only rebuilds it when either changes.
 *
 * Run it on its own to fill the cache and see how long a build takes:
 *   pnpm tsx scripts/test/support/regression-corpus.ts [--all]
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { captureProcess, runProcess } from '../../lib/proc/process.js';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';

/**
 * Scripts not run, and why: none. The statements that need the C test module regress.so (which
 * Debian's server packages do not ship) fail like the deliberate errors, and the rest of each
 * script still runs; refint.so and autoinc.so, which triggers.sql loads, are shipped and work.
 */
export const SKIPPED_SCRIPTS: Readonly<Record<string, string>> = {};

/**
 * What is removed after the build because pg_dump → restore → pg_dump does not give it back the
 * same, with the reason. Each is PostgreSQL's behaviour, not the kit's: pg_dump recreates an
 * inheritance child as CREATE TABLE … INHERITS, which puts the inherited columns first, so a child
 * whose columns came in another order (a column added to the parent after the child had columns
 * of its own, or a table given a parent later with ALTER TABLE … INHERIT) comes back with its
 * columns reordered. pg_upgrade keeps them only because it copies the catalogs in binary-upgrade
 * mode. IF EXISTS: the subset does not make all of them.
 */
export const REMOVALS: ReadonlyArray<{ sql: string; why: string }> = [
  {
    sql: 'DROP TABLE IF EXISTS b_star, c_star, d_star, e_star, f_star',
    why: 'create_misc/alter_table: ALTER TABLE a_star* ADD COLUMN a after the children had their own columns',
  },
  {
    sql: 'DROP TABLE IF EXISTS renamecolumnchild, renamecolumnanother',
    why: 'alter_table: ALTER TABLE renamecolumn ADD COLUMN after the children had their own columns',
  },
  {
    sql: 'DROP TABLE IF EXISTS test_type_diff_c, test_type_diff2_c1, test_type_diff2_c2, test_type_diff2_c3',
    why: 'alter_table: children given their parent with ALTER TABLE … INHERIT, columns in another order',
  },
  { sql: 'DROP TABLE IF EXISTS gtestxx_4', why: 'generated: ALTER TABLE gtestxx_4 INHERIT gtest1 with its columns in another order' },
];

/**
 * The subset built when the whole corpus is not asked for (PG_REGRESS_CORPUS=all), about two of
 * the whole build's eight minutes: test_setup, which makes the tables later scripts read, and the
 * scripts that make the objects most likely to trip a restore: the 1,600-column table
 * (create_table), inheritance and partitions, rules, triggers, row security, identity and generated
 * columns, large objects, publications, event triggers, a tablespace, ICU collations, full-text
 * search configurations, foreign data wrappers, extended statistics, and BRIN bloom indexes.
 */
export const SUBSET: ReadonlySet<string> = new Set(
  (
    'test_setup tablespace enum rangetypes create_misc create_operator create_procedure create_table create_type ' +
    'create_schema create_index create_view create_aggregate create_function_sql create_cast constraints triggers ' +
    'inherit typed_table create_am domain rules matview rowsecurity identity generated publication largeobject ' +
    'collate.icu.utf8 event_trigger fast_default alter_table indexing hash_part jsonb xml tsearch sequence ' +
    'privileges foreign_data stats_ext brin_bloom plpgsql copy insert'
  ).split(' '),
);

export interface RegressionSources {
  /** The Debian source package version, e.g. 15.18-0+deb12u1. */
  version: string;
  /** Holds sql/, data/ and parallel_schedule of src/test/regress. */
  dir: string;
}

export interface RegressionCorpus {
  version: string;
  /** `pg_dump -Fc` of the built database. */
  dump: string;
  /** Whether the whole schedule was built, or SUBSET. */
  whole: boolean;
  /** Seconds the build took, when this call built it (undefined when it came from the cache). */
  buildSeconds?: number;
}

/** Where downloaded sources and built corpora are kept between runs. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PG_REGRESS_CORPUS_CACHE) return env.PG_REGRESS_CORPUS_CACHE;
  return path.join(env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'pg-backup-kit');
}

/** The major version of the server programs in `binDir` (postgres --version). */
async function serverMajor(binDir: string): Promise<string> {
  const out = await captureProcess(path.join(binDir, 'postgres'), ['--version']);
  const match = /\s(\d+)(?:\.\d+)*/.exec(out);
  if (!match) throw new Error(`Could not read the server's version from "${out.trim()}".`);
  return match[1]!;
}

/** The installed Debian version of postgresql-<major>: the scripts must be the server's own. */
async function installedPackageVersion(major: string): Promise<string> {
  const version = await captureProcess('dpkg-query', ['-W', '-f', '${Version}', `postgresql-${major}`]).catch(() => '');
  if (!version.trim()) {
    throw new Error(
      `The regression corpus needs Debian's postgresql-${major} package (its source package holds the scripts). ` +
        `Install it with scripts/setup.sh, or point PG_REGRESS_SOURCE at an unpacked PostgreSQL ${major} source tree.`,
    );
  }
  return version.trim();
}

/** The pieces of src/test/regress the build reads; nothing else of the 23 MB archive is unpacked. */
const WANTED = ['*/src/test/regress/sql/*', '*/src/test/regress/data/*', '*/src/test/regress/parallel_schedule'];

async function downloadSources(version: string, major: string, into: string): Promise<void> {
  const work = mkdtempSync(path.join(path.dirname(into), '.download-'));
  try {
    // Without a deb-src entry apt-get says so itself ("You must put some 'deb-src' URIs…"), quoted.
    await runProcess('apt-get', ['source', '--download-only', '-qq', `postgresql-${major}=${version}`], { cwd: work, name: 'apt-get source' });
    const archive = readdirSync(work).find((f) => /\.orig\.tar\.(bz2|gz|xz)$/.test(f));
    if (!archive) throw new Error(`apt-get source postgresql-${major}=${version} left no .orig.tar archive in ${work}.`);
    const unpacked = path.join(work, 'regress');
    mkdirSync(unpacked);
    await runProcess('tar', ['-xf', path.join(work, archive), '-C', unpacked, '--strip-components=4', '--wildcards', ...WANTED]);
    renameSync(unpacked, into);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The regression scripts of the installed server, downloaded and unpacked once per version. */
export async function regressionSources(binDir: string, env: NodeJS.ProcessEnv = process.env): Promise<RegressionSources> {
  if (env.PG_REGRESS_SOURCE) {
    const dir = path.join(env.PG_REGRESS_SOURCE, 'src/test/regress');
    return { version: `source-${createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 8)}`, dir };
  }
  const major = await serverMajor(binDir);
  const version = await installedPackageVersion(major);
  const dir = path.join(cacheRoot(env), `regress-src-${version}`);
  if (!existsSync(path.join(dir, 'parallel_schedule'))) {
    mkdirSync(cacheRoot(env), { recursive: true });
    // Another run may have unpacked it meanwhile: a rename onto a full directory fails, which is fine.
    await downloadSources(version, major, dir).catch((error: unknown) => {
      if (!existsSync(path.join(dir, 'parallel_schedule'))) throw error;
    });
  }
  return { version, dir };
}

/** The schedule's tests, in order, as groups (one `test:` line each; `ignore:` lines name no test). */
export function readSchedule(text: string): string[][] {
  return text
    .split('\n')
    .map((line) => /^test:\s*(.*)$/.exec(line.trim())?.[1])
    .filter((tests): tests is string => tests !== undefined)
    .map((tests) => tests.split(/\s+/).filter(Boolean));
}

/** The scripts to run, in the schedule's order: all of them, or SUBSET. */
export function scriptsToRun(schedule: string[][], whole: boolean): string[] {
  return schedule.flat().filter((test) => !(test in SKIPPED_SCRIPTS) && (whole || SUBSET.has(test)));
}

/** The environment pg_regress gives each psql: where the data files are, and its time zone and date style. */
function scriptEnv(cluster: Cluster, work: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    PGHOST: cluster.host,
    PGPORT: String(cluster.port),
    PGUSER: cluster.superuser,
    PGPASSWORD: cluster.password,
    PGDATABASE: 'regression',
    PG_ABS_SRCDIR: work,
    PG_ABS_BUILDDIR: work,
    PG_LIBDIR: path.join(cluster.binDir, '../lib'),
    PG_DLSUFFIX: '.so',
    PGTZ: 'PST8PDT',
    PGDATESTYLE: 'Postgres, MDY',
  };
}

/**
 * A copy of the data files the server itself reads (COPY FROM a file) and a results/ directory it
 * writes into, owned by the server's user: the cache may sit in a home directory it cannot enter.
 */
function serverReadableCopy(cluster: Cluster, sources: RegressionSources): string {
  const work = mkdtempSync(path.join(tmpdir(), 'pgkit-regress-'));
  cpSync(path.join(sources.dir, 'data'), path.join(work, 'data'), { recursive: true });
  mkdirSync(path.join(work, 'results'));
  const owner = statSync(cluster.dataDir);
  for (const dir of [work, path.join(work, 'data'), path.join(work, 'results'), ...readdirSync(path.join(work, 'data')).map((f) => path.join(work, 'data', f))]) {
    chownSync(dir, owner.uid, owner.gid);
  }
  return work;
}

/**
 * What legitimately differs between two dumps of databases with the same content: pg_dump's
 * `\restrict` key, new on every run, and the order of the rows in a COPY block. A restore writes a
 * table's rows in the dump's order, yet the heap may place a short row into room an earlier page
 * has left, so the next dump reads them in another order (regression's brintest_bloom does this
 * after a restore by pg_restore itself). Rows are a set: each block's lines are sorted.
 */
export function normalizeDump(text: string): string {
  const lines = text.replace(/^\\(un)?restrict \S+$/gm, '\\$1restrict KEY').split('\n');
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    out.push(lines[i]!);
    if (!/^COPY .* FROM stdin;$/.test(lines[i]!)) continue;
    const end = lines.indexOf('\\.', i + 1);
    if (end === -1) break;
    out.push(...lines.slice(i + 1, end).sort(), '\\.');
    i = end;
  }
  return out.join('\n');
}

/**
 * Empty when two dump files are equal, else their first differences as `diff -u` shows them. The
 * contents are compared here; diff only explains (a diff that could not run must not read as "equal").
 */
export function differences(a: string, b: string): string {
  if (readFileSync(a).equals(readFileSync(b))) return '';
  const shown = execFileSync('sh', ['-c', 'diff -u "$0" "$1" | head -n 60', a, b]).toString();
  return shown || `${a} and ${b} differ`;
}

/** A plain dump of `database`, normalized, written to `file`. */
async function normalizedDump(cluster: Cluster, database: string, file: string): Promise<string> {
  await runProcess(path.join(cluster.binDir, 'pg_dump'), ['--no-sync', '-f', file], { env: { ...scriptEnv(cluster, ''), PGDATABASE: database } });
  writeFileSync(file, normalizeDump(readFileSync(file, 'utf8')));
  return file;
}

/**
 * pg_upgrade's check, with pg_dump and pg_restore: the dump restored into another database must
 * dump the same as the database it came from. A difference means REMOVALS misses something.
 */
async function checkRoundTrip(cluster: Cluster, dump: string, work: string): Promise<void> {
  const env = { ...scriptEnv(cluster, ''), PGDATABASE: 'postgres' };
  await runProcess(path.join(cluster.binDir, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', 'CREATE DATABASE roundtrip TEMPLATE template0'], { env });
  await runProcess(path.join(cluster.binDir, 'pg_restore'), ['--exit-on-error', '--dbname', 'roundtrip', dump], { env });
  const diff = differences(await normalizedDump(cluster, 'regression', path.join(work, 'before.sql')), await normalizedDump(cluster, 'roundtrip', path.join(work, 'after.sql')));
  if (diff) throw new Error(`The regression database does not survive pg_dump and pg_restore unchanged; add what differs to REMOVALS:\n${diff}`);
}

/** pg_regress's own database settings, so the scripts see what they were written against. */
const DATABASE_SETTINGS = `
  CREATE DATABASE regression TEMPLATE = template0;
  ALTER DATABASE regression SET lc_messages TO 'C';
  ALTER DATABASE regression SET lc_monetary TO 'C';
  ALTER DATABASE regression SET lc_numeric TO 'C';
  ALTER DATABASE regression SET lc_time TO 'C';
  ALTER DATABASE regression SET bytea_output TO 'hex';
  ALTER DATABASE regression SET timezone_abbreviations TO 'Default';`;

async function psql(cluster: Cluster, env: NodeJS.ProcessEnv, args: string[]): Promise<void> {
  await runProcess(path.join(cluster.binDir, 'psql'), ['-X', '-q', ...args], { env, stdio: ['ignore', 'ignore', 'ignore'] });
}

/**
 * Build the regression database on `cluster`: each script in its own psql, in the schedule's order,
 * one at a time (pg_regress runs a group's scripts at once only to save time). ON_ERROR_STOP stays
 * off: the scripts fail on purpose and check the errors in their expected output, which is not
 * compared here. Then REMOVALS.
 */
export async function buildRegressionDatabase(
  cluster: Cluster,
  sources: RegressionSources,
  whole: boolean,
  onScript: (script: string, seconds: number) => void = () => undefined,
): Promise<string[]> {
  const work = serverReadableCopy(cluster, sources);
  try {
    const env = scriptEnv(cluster, work);
    for (const statement of DATABASE_SETTINGS.split(';').map((s) => s.trim()).filter(Boolean)) {
      await psql(cluster, { ...env, PGDATABASE: 'postgres' }, ['-v', 'ON_ERROR_STOP=1', '-c', statement]);
    }
    const scripts = scriptsToRun(readSchedule(readFileSync(path.join(sources.dir, 'parallel_schedule'), 'utf8')), whole);
    for (const script of scripts) {
      const started = Date.now();
      await psql(cluster, { ...env, PGAPPNAME: `pg_regress/${script}` }, ['-f', path.join(sources.dir, 'sql', `${script}.sql`)]);
      onScript(script, (Date.now() - started) / 1000);
    }
    for (const removal of REMOVALS) await psql(cluster, env, ['-v', 'ON_ERROR_STOP=1', '-c', removal.sql]);
    return scripts;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The cache key: the scripts' version, which part of the schedule, and how this file builds it. */
function corpusKey(version: string, whole: boolean): string {
  const recipe = createHash('sha256').update(readFileSync(import.meta.filename)).digest('hex').slice(0, 12);
  return `regression-${version}-${whole ? 'all' : 'subset'}-${recipe}`;
}

/**
 * Build on a throw-away cluster, dump it into `into`, and stop the cluster. No roles go with it:
 * the scripts drop every role they create, so every object belongs to the bootstrap superuser.
 */
async function buildCorpus(sources: RegressionSources, whole: boolean, into: string): Promise<number> {
  const started = Date.now();
  const cluster = await startCluster({ settings: { max_prepared_transactions: '2' } });
  try {
    await buildRegressionDatabase(cluster, sources, whole);
    const env = { ...scriptEnv(cluster, into), PGDATABASE: 'regression' };
    // Written beside the cache entry and renamed into place whole: a run that dies half-way
    // leaves no entry that looks complete.
    const work = mkdtempSync(path.join(path.dirname(into), '.build-'));
    try {
      await runProcess(path.join(cluster.binDir, 'pg_dump'), ['-Fc', '-f', path.join(work, 'regression.dump')], { env });
      await checkRoundTrip(cluster, path.join(work, 'regression.dump'), work);
      for (const check of ['before.sql', 'after.sql']) rmSync(path.join(work, check));
      renameSync(work, into);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  } finally {
    await cluster.destroy();
  }
  return (Date.now() - started) / 1000;
}

/**
 * The regression database as a dump, from the cache or built now. `whole` builds the
 * entire schedule; otherwise SUBSET. PG_REGRESS_CORPUS=all asks for the whole one.
 */
export async function regressionCorpus(binDir: string, whole = process.env.PG_REGRESS_CORPUS === 'all'): Promise<RegressionCorpus> {
  const sources = await regressionSources(binDir);
  const dir = path.join(cacheRoot(), corpusKey(sources.version, whole));
  let buildSeconds: number | undefined;
  if (!existsSync(path.join(dir, 'regression.dump'))) {
    buildSeconds = await buildCorpus(sources, whole, dir).catch((error: unknown) => {
      if (!existsSync(path.join(dir, 'regression.dump'))) throw error;
      return undefined;
    });
  }
  return { version: sources.version, dump: path.join(dir, 'regression.dump'), whole, buildSeconds };
}

if (import.meta.filename === path.resolve(process.argv[1] ?? '')) {
  const { findServerBin } = await import('../../lib/engines/postgres/cluster.js');
  const corpus = await regressionCorpus(findServerBin(), process.argv.includes('--all') || process.env.PG_REGRESS_CORPUS === 'all');
  const how = corpus.buildSeconds === undefined ? 'from the cache' : `built in ${corpus.buildSeconds.toFixed(0)} s`;
  process.stdout.write(`${corpus.dump} (${corpus.whole ? 'whole schedule' : 'subset'}, PostgreSQL ${corpus.version}, ${how})\n`);
}
