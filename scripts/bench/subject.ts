/** The database being benchmarked: a throw-away cluster, or an existing server from --url. */
import path from 'node:path';
import { $ } from 'zx/core';
import { startCluster } from '../lib/engines/postgres/cluster.js';
import { childEnv, targetFromUrl, type Target } from '../lib/config/target.js';
import { connect, serverFacts, type Client } from '../lib/engines/postgres/connect.js';
import { locateTool } from '../lib/engines/postgres/tools.js';
import type { BenchOptions } from './options.js';
import { progress, seconds } from './report.js';

const BENCH_DATABASE = 'bench';

export interface Subject {
  /** What the kit is given as DATABASE_URL. */
  url: string;
  target: Target;
  /** libpq environment for the raw tools: the password travels here, never in argv. */
  env: NodeJS.ProcessEnv;
  /** Where pg_dump, pg_restore, psql and pgbench come from. */
  binDir: string;
  origin: 'throw-away cluster' | 'server from --url';
  close(): Promise<void>;
}

function subjectFor(url: string, binDir: string, origin: Subject['origin'], close: () => Promise<void>): Subject {
  const target = targetFromUrl(url, origin, 'bench');
  const env = { ...childEnv(target, process.env), PGAPPNAME: 'pg-backup-kit-bench' };
  return { url, target, env, binDir, origin, close };
}

export async function withClient<T>(target: Target, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openSubject(options: BenchOptions, signal: AbortSignal): Promise<Subject> {
  if (options.url !== undefined) {
    const target = targetFromUrl(options.url, '--url', 'bench');
    const { major } = await withClient(target, serverFacts);
    // The pg_dump the kit itself would choose for this server, so both sides run the same one.
    const pgDump = await locateTool('pg_dump', major);
    return subjectFor(options.url, pgDump.dir, 'server from --url', async () => undefined);
  }
  progress('starting a throw-away PostgreSQL cluster');
  const cluster = await startCluster();
  try {
    signal.throwIfAborted();
    const admin = targetFromUrl(cluster.url('postgres'), 'cluster', 'bench');
    await withClient(admin, (client) => client.query(`CREATE DATABASE ${BENCH_DATABASE}`));
    return subjectFor(cluster.url(BENCH_DATABASE), cluster.binDir, 'throw-away cluster', () => cluster.destroy());
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}

export async function loadPgbenchData(subject: Subject, scale: number, signal: AbortSignal): Promise<void> {
  progress(`loading pgbench data at scale ${scale} (about ${scale * 15} MB)`);
  const began = performance.now();
  await $({ env: subject.env, signal, quiet: true })`${path.join(subject.binDir, 'pgbench')} -i -s ${String(scale)} --quiet`;
  // Fresh statistics and visibility map, so no run pays for hint bits or autovacuum the others do not.
  await withClient(subject.target, (client) => client.query('VACUUM ANALYZE'));
  progress(`data loaded and vacuumed in ${seconds(performance.now() - began)} s`);
}

/**
 * Data shaped like an application's rather than pgbench's: random text and bytes that compress
 * about 2:1, jsonb, numeric, timestamps, arrays, a wide table, two indexes and a foreign key. It
 * shows the per-byte costs (COPY parsing, index builds, the kit's own stream) that pgbench's
 * highly compressible rows hide. About 15 MB per unit of scale.
 */
export async function loadMixedData(subject: Subject, scale: number, signal: AbortSignal): Promise<void> {
  progress(`loading mixed application data at scale ${scale} (about ${scale * 15} MB)`);
  const began = performance.now();
  const docs = scale * 25_000;
  await withClient(subject.target, async (client) => {
    signal.throwIfAborted();
    await client.query(`DROP TABLE IF EXISTS bench_events, bench_docs`);
    await client.query(`CREATE TABLE bench_docs (
      id bigint PRIMARY KEY, title text NOT NULL, body text, attrs jsonb, amount numeric(14,4),
      created_at timestamptz NOT NULL, payload bytea, tags text[])`);
    await client.query(`INSERT INTO bench_docs
      SELECT g, 'doc ' || md5(g::text),
        md5(random()::text) || ' ' || md5(random()::text) || E'\n' || md5(random()::text) || ' ' || md5(random()::text),
        jsonb_build_object('n', g, 'score', round((random() * 1000)::numeric, 3), 'label', md5(random()::text), 'ok', g % 3 = 0),
        round((random() * 1e8)::numeric, 4),
        timestamptz '2020-01-01 00:00:00+00' + g * interval '17 seconds',
        decode(md5(random()::text) || md5(random()::text), 'hex'),
        ARRAY[md5(random()::text), (g % 97)::text]
      FROM generate_series(1, ${docs}) g`);
    signal.throwIfAborted();
    await client.query(`CREATE TABLE bench_events (
      id bigint PRIMARY KEY, doc_id bigint NOT NULL REFERENCES bench_docs, at timestamptz NOT NULL,
      kind text NOT NULL, value double precision, c1 text, c2 text, c3 int, c4 int, c5 date, c6 boolean, c7 numeric)`);
    await client.query(`INSERT INTO bench_events
      SELECT g, 1 + (g % ${docs}), timestamptz '2021-06-01 00:00:00+00' + g * interval '3 seconds',
        (ARRAY['view','edit','share','delete'])[1 + g % 4], random() * 1000,
        md5(random()::text), substr(md5(random()::text), 1, 12), (random() * 1e6)::int, g % 1000,
        date '2021-01-01' + (g % 900), g % 2 = 0, round((random() * 100)::numeric, 2)
      FROM generate_series(1, ${docs * 2}) g`);
    await client.query('CREATE INDEX bench_docs_created ON bench_docs (created_at)');
    await client.query('CREATE INDEX bench_events_doc ON bench_events (doc_id, at)');
    await client.query('VACUUM ANALYZE');
  });
  progress(`data loaded and vacuumed in ${seconds(performance.now() - began)} s`);
}
