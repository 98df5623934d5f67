/** The database being benchmarked: a throw-away cluster, or an existing server from --url. */
import path from 'node:path';
import { $ } from 'zx/core';
import { startCluster } from '../lib/proc/cluster.js';
import { childEnv, targetFromUrl, type Target } from '../lib/config/target.js';
import { connect, serverFacts, type Client } from '../lib/pg/connect.js';
import { locateTool } from '../lib/proc/pg-tools.js';
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
