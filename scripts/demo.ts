/**
 * `pnpm demo`: the whole story on a machine with PostgreSQL's server programs and no
 * configuration at all. A throw-away cluster; the sample application migrated with its own
 * migration tool and filled with data; then, with the real commands: backup in every format →
 * list → deep verify → a disaster (a table dropped) → restore the latest backup → proof that the
 * data is back → the cluster removed. The backups stay in backups/demo/ to look at.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { $ } from 'zx/core';
import { startCluster, type Cluster } from './lib/engines/postgres/cluster.js';

// pnpm runs scripts from the repository root; the launcher sits beside this entry file.
const root = process.cwd();
const launcher = path.join(path.dirname(process.argv[1] ?? 'scripts/demo.ts'), 'kit.mjs');
const TABLES = ['customers', 'products', 'orders', 'order_items'];
const say = (line: string) => process.stdout.write(`\n▶ ${line}\n`);

async function sql<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

/** A child that talks to the person watching: its output goes straight to the terminal. */
async function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const out = await $({ cwd: root, env, stdio: 'inherit', nothrow: true })`${file} ${args}`;
  if (out.exitCode !== 0) throw new Error(`${path.basename(file)} ${args.join(' ')} exited with ${out.exitCode ?? out.signal}`);
}

async function counts(url: string): Promise<Record<string, number | string>> {
  const out: Record<string, number | string> = {};
  for (const table of TABLES) {
    try {
      out[table] = Number((await sql<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
    } catch {
      out[table] = 'missing';
    }
  }
  return out;
}

function showCounts(label: string, c: Record<string, number | string>): void {
  console.log(`  ${label.padEnd(8)} ${TABLES.map((t) => `${t} ${c[t]}`).join(', ')}`);
}

async function main(): Promise<void> {
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
    showCounts('data:', before);

    // The kit reads its connection from an env file, as it would from packages/database/.env.demo.
    const envFile = path.join(scratch, 'demo.env');
    writeFileSync(envFile, `DATABASE_URL=${shop}\n`, { mode: 0o600 });
    const kitEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: process.env.LANG, ...(process.env.BACKUP_DIR ? { BACKUP_DIR: process.env.BACKUP_DIR } : {}), ...(process.env.LOG_FILE ? { LOG_FILE: process.env.LOG_FILE } : {}) };
    // list reads backups/demo/ and never connects, so it takes neither --env-file nor progress flags.
    const kit = (command: string, args: string[], connects = true) => {
      const shown = { 'pg-backup': 'db:backup', 'pg-restore': 'db:restore' }[command] ?? `db:${command}`;
      say(`pnpm ${shown} -- ${[...args, '--env', 'demo'].join(' ')}`);
      return run(process.execPath, [launcher, '--', command, ...args, '--env', 'demo', ...(connects ? ['--env-file', envFile, '--no-progress'] : [])], kitEnv);
    };

    await kit('pg-backup', ['demo', 'Before the disaster']);
    await kit('list', [], false);
    await kit('verify', ['--latest', '--deep']);

    say('A disaster: someone drops the order_items table');
    await sql(shop, 'DROP TABLE order_items');
    showCounts('now:', await counts(shop));

    await kit('pg-restore', ['--latest', '--type', 'demo', '--force']);

    say('Proof: the data is back');
    const after = await counts(shop);
    showCounts('before:', before);
    showCounts('after:', after);
    const same = TABLES.every((t) => before[t] === after[t]);
    if (!same) throw new Error('the restored row counts differ from the ones before the disaster');
    console.log('  every table has exactly the rows it had before the disaster');
    say(`Done. The backups are in ${path.relative(root, path.join(process.env.BACKUP_DIR ?? path.join(root, 'backups'), 'demo')) || '.'}/; removing the throw-away cluster.`);
  } finally {
    await cluster?.destroy();
    rmSync(scratch, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo: error: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
