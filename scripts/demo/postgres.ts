/**
 * The PostgreSQL story on a machine with PostgreSQL's server programs and no configuration at
 * all. A throw-away cluster; the sample application migrated with its own migration tool and
 * filled with data; then, with the real commands: backup in every format → list → deep verify →
 * a disaster (a table dropped) → restore the latest backup → proof that the data is back → the
 * cluster removed.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCluster, type Cluster } from '../lib/engines/postgres/cluster.js';
import { backupsShown, kitRunner, root, run, say, showCounts, type Counts } from './common.js';

const TABLES = ['customers', 'products', 'orders', 'order_items'];

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function counts(url: string): Promise<Counts> {
  const out: Counts = {};
  for (const table of TABLES) {
    try {
      out[table] = Number((await sql<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
    } catch {
      out[table] = 'missing';
    }
  }
  return out;
}

export async function postgresDemo(): Promise<void> {
  const scratch = mkdtempSync(path.join(tmpdir(), 'pgkit-demo-'));
  let cluster: Cluster | undefined;
  try {
    say('Starting a throw-away PostgreSQL cluster (initdb + pg_ctl in a temporary directory)');
    cluster = await startCluster();
    const version = (await sql<{ v: string }>(cluster.url(), "SELECT current_setting('server_version') AS v"))[0]!.v;
    console.log(`  PostgreSQL ${version} on 127.0.0.1:${cluster.port}`);

    say('Creating the sample application: its migrations (node-pg-migrate), then packages/database/seed.sql');
    await sql(cluster.url(), 'CREATE DATABASE shop');
    const shop = cluster.url('shop');
    const quietEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: shop };
    await run('pnpm', ['-s', 'db:migrate'], quietEnv);
    const seed = readFileSync(path.join(root, 'packages/database/seed.sql'), 'utf8');
    await sql(shop, seed);
    const before = await counts(shop);
    showCounts(TABLES, 'data:', before);

    const envFile = path.join(scratch, 'demo.env');
    writeFileSync(envFile, `DATABASE_URL=${shop}\n`, { mode: 0o600 });
    const kit = kitRunner(envFile);

    await kit('pg-backup', ['demo', 'Before the disaster']);
    await kit('list', [], false);
    await kit('verify', ['--latest', '--deep']);

    say('A disaster: someone drops the order_items table');
    await sql(shop, 'DROP TABLE order_items');
    showCounts(TABLES, 'now:', await counts(shop));

    await kit('pg-restore', ['--latest', '--type', 'demo', '--force']);

    say('Proof: the data is back');
    const after = await counts(shop);
    showCounts(TABLES, 'before:', before);
    showCounts(TABLES, 'after:', after);
    const same = TABLES.every((t) => before[t] === after[t]);
    if (!same) throw new Error('the restored row counts differ from the ones before the disaster');
    console.log('  every table has exactly the rows it had before the disaster');
    say(`Done. The backups are in ${backupsShown()}/; removing the throw-away cluster.`);
  } finally {
    await cluster?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}
