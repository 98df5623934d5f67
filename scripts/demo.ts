/**
 * `pnpm demo`: the kit on a machine with no configuration at all. Starts a throw-away PostgreSQL
 * cluster, fills a small shop database, takes a backup with the real CLI, checks it with
 * sha256sum, restores the dump into a fresh database with pg_restore and compares row counts,
 * then removes the cluster. Its backups stay in backups/demo/ to look at.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startCluster, type Cluster } from './lib/cluster/cluster.js';
import type { BackupInfo } from './lib/backup/metadata.js';

// pnpm runs scripts from the repository root.
const root = process.cwd();
const say = (line: string) => process.stdout.write(`\n▶ ${line}\n`);

const SHOP = `
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, email text UNIQUE);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint REFERENCES customers, placed_at timestamptz NOT NULL, total numeric(10,2));
INSERT INTO customers (name, email) SELECT 'Customer ' || g, 'c' || g || '@example.test' FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, placed_at, total)
  SELECT 1 + g % 2000, timestamptz '2026-01-01' + g * interval '7 minutes', (g % 500) + 0.99 FROM generate_series(1, 20000) g;
`;

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function runKit(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const launcher = path.join(path.dirname(process.argv[1] ?? 'scripts/demo.ts'), 'kit.mjs');
    const child = spawn(process.execPath, [launcher, 'pg-backup', ...args], { cwd: root, env, stdio: 'inherit' });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`pg-backup exited with ${code}`))));
  });
}

async function counts(url: string): Promise<Record<string, number>> {
  const rows = await sql<{ t: string; n: string }>(url, `SELECT 'customers' AS t, count(*) AS n FROM customers UNION ALL SELECT 'orders', count(*) FROM orders`);
  return Object.fromEntries(rows.map((r) => [r.t, Number(r.n)]));
}

async function main(): Promise<void> {
  say('Starting a throw-away PostgreSQL cluster (initdb + pg_ctl in a temp directory)');
  let cluster: Cluster | undefined;
  const scratch = mkdtempSync(path.join(tmpdir(), 'pgkit-demo-'));
  try {
    cluster = await startCluster();
    const version = (await sql<{ v: string }>(cluster.url(), "SELECT current_setting('server_version') AS v"))[0]!.v;
    console.log(`  PostgreSQL ${version} on 127.0.0.1:${cluster.port}`);

    say('Creating a small shop database: 2,000 customers, 20,000 orders');
    await sql(cluster.url(), 'CREATE DATABASE shop');
    const shop = cluster.url('shop');
    await sql(shop, SHOP);

    say('pnpm db:backup -- --env demo   (every format, one snapshot, checksums, statistics)');
    // The connection lives in an env file, as it would in packages/database/.env.
    const envFile = path.join(scratch, 'demo.env');
    writeFileSync(envFile, `DATABASE_URL=${shop}\n`, { mode: 0o600 });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG };
    await runKit(['demo', 'Demo backup', '--env', 'demo', '--env-file', envFile, '--no-progress'], env);

    const dir = path.join(root, 'backups/demo');
    const infoFile = execFileSync('ls', ['-t', dir]).toString().split('\n').find((f) => f.endsWith('.info'))!;
    const info = JSON.parse(readFileSync(path.join(dir, infoFile), 'utf8')) as BackupInfo;

    say(`sha256sum -c ${info.id}.sha256`);
    process.stdout.write(`${execFileSync('sha256sum', ['-c', `${info.id}.sha256`], { cwd: dir }).toString().trimEnd().replace(/^/gm, '  ')}\n`);

    say('Statistics recorded in the .info file (read from the dump stream as it was written)');
    for (const [table, stats] of Object.entries(info.statistics.tables)) console.log(`  ${table.padEnd(18)} ${String(stats.rows).padStart(6)} rows  fingerprint ${stats.fingerprint}`);

    say('Restoring the .dump into a fresh database with pg_restore, and comparing');
    await sql(cluster.url(), 'CREATE DATABASE shop_restored');
    const restored = cluster.url('shop_restored');
    const dump = path.join(dir, `${info.id}.dump`);
    execFileSync(path.join(cluster.binDir, 'pg_restore'), ['--exit-on-error', '--single-transaction', '-d', 'shop_restored', dump], {
      env: { PATH: process.env.PATH, PGHOST: cluster.host, PGPORT: String(cluster.port), PGUSER: 'postgres', PGPASSWORD: cluster.password },
    });
    const [before, after] = [await counts(shop), await counts(restored)];
    for (const table of Object.keys(before)) {
      const same = before[table] === after[table] && before[table] === info.statistics.tables[`public.${table}`]?.rows;
      console.log(`  ${table.padEnd(10)} source ${before[table]}  restored ${after[table]}  ${same ? 'identical' : 'DIFFERENT'}`);
      if (!same) throw new Error(`restored ${table} differs from the source`);
    }
    say(`Done. The demo's backup is in ${path.relative(process.cwd(), dir) || dir}/; the throw-away cluster is removed.`);
  } finally {
    await cluster?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
