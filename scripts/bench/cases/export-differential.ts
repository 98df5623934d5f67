/**
 * Differential exports: `db:export --differential` after 1% of the rows changed, against a full
 * `db:export` of the same table. The table lives in a scratch database of its own (as many rows
 * as pgbench_accounts, about 150 bytes each, an index on updated_at), made untimed before each
 * run and dropped after it, so the other cases never see it. The differential's run follows a
 * chain's full export taken in its prepare step; then 1% of the rows are updated, spread over
 * the whole table.
 */
import pg from 'pg';
import { registerCase, type BenchContext } from '../registry.js';
import { adminSql, databaseUrl } from './restore-fixture.js';

let counter = 0;

async function rowsWanted(ctx: BenchContext): Promise<number> {
  const client = new pg.Client({ connectionString: ctx.subject.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string | null }>("SELECT CASE WHEN to_regclass('pgbench_accounts') IS NULL THEN NULL ELSE (SELECT count(*) FROM pgbench_accounts)::text END AS n");
    return rows[0]!.n === null ? 1_000_000 : Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

function orders(ctx: BenchContext) {
  const databases = new Map<string, string>();
  const admin = adminSql(ctx);
  const sql = (database: string, text: string) => ctx.tool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', text], { ...ctx.subject.env, PGDATABASE: database });
  return {
    url: (dir: string) => databaseUrl(ctx, databases.get(dir)!),
    async create(dir: string): Promise<void> {
      const database = `bench_diff_${process.pid}_${++counter}`;
      await admin(`CREATE DATABASE ${database}`);
      databases.set(dir, database);
      const n = await rowsWanted(ctx);
      await sql(database, `CREATE TABLE orders (id bigint PRIMARY KEY, customer int NOT NULL, status text NOT NULL, note text, amount numeric(12,2), updated_at timestamptz NOT NULL);
        INSERT INTO orders SELECT g, g % 5000, 'open', md5(g::text) || ' ' || md5((-g)::text), (g % 100000) / 100.0, now() - interval '1 day' FROM generate_series(1, ${n}) g;
        CREATE INDEX orders_updated_at ON orders (updated_at);`);
      await sql(database, 'VACUUM ANALYZE orders');
    },
    /** 1% of the rows, one in every hundred ids, as an application's updates would stamp them. */
    change: (dir: string) => sql(databases.get(dir)!, "UPDATE orders SET status = 'paid', updated_at = now() WHERE id % 100 = 42"),
    async drop(dir: string): Promise<void> {
      const database = databases.get(dir);
      if (!database) return;
      databases.delete(dir);
      await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

registerCase((ctx) => {
  const fixture = orders(ctx);
  return {
    id: 'kit-export-full-orders',
    label: 'kit db:export, the orders table in full',
    prepare: (dir) => fixture.create(dir),
    run: (dir) => ctx.kit(dir, ['db-export'], fixture.url(dir)),
    cleanup: (dir) => fixture.drop(dir),
  };
});

registerCase((ctx) => {
  const fixture = orders(ctx);
  return {
    id: 'kit-export-diff',
    label: 'kit db:export --differential, 1% of orders changed',
    prepare: async (dir) => {
      await fixture.create(dir);
      await ctx.kit(dir, ['db-export', '--differential'], fixture.url(dir));
      await fixture.change(dir);
    },
    run: (dir) => ctx.kit(dir, ['db-export', '--differential'], fixture.url(dir)),
    cleanup: (dir) => fixture.drop(dir),
    target: { label: 'kit differential (1% changed) / kit full export', against: 'kit-export-full-orders', max: 0.1 },
  };
});
