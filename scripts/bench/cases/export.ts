/**
 * Table exports: the kit's db:export (every table as CSV from one snapshot, --jobs 4) against
 * what a person would run by hand, `psql -c "\copy <table> to <file> csv header"` table after
 * table. The kit also writes schema.sql and metadata.json and hashes every byte; concurrency has
 * to win that back (a big table is copied in page ranges at once: --jobs 1 shows it without).
 */
import path from 'node:path';
import pg from 'pg';
import { registerCase } from '../registry.js';

async function tablesOf(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT format('%I.%I', n.nspname, c.relname) AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1`,
    );
    return rows.map((r) => r.name);
  } finally {
    await client.end();
  }
}

registerCase((ctx) => ({
  id: 'raw-copy',
  label: 'raw psql \\copy csv, table after table',
  run: async (dir) => {
    for (const [i, table] of (await tablesOf(ctx.subject.url)).entries()) {
      await ctx.tool('psql', ['-X', '-q', '-c', `\\copy ${table} to '${path.join(dir, `${i}.csv`)}' csv header`]);
    }
    return {};
  },
}));

registerCase((ctx) => ({
  id: 'kit-export',
  label: 'kit db:export (csv, --jobs 4)',
  run: (dir) => ctx.kit(dir, ['db-export', '--jobs', '4']),
  target: { label: 'kit export / raw \\copy in sequence', against: 'raw-copy', max: 1.0 },
}));

// One COPY at a time, and no big table cut into page ranges: what concurrency wins, measured.
registerCase((ctx) => ({
  id: 'kit-export-j1',
  label: 'kit db:export (csv, --jobs 1)',
  run: (dir) => ctx.kit(dir, ['db-export', '--jobs', '1']),
}));

/** db:sql --csv streams through a cursor: its memory must stay flat however many rows come. */
const BIG_QUERY = 'SELECT * FROM pgbench_accounts';

registerCase((ctx) => ({
  id: 'raw-copy-query',
  label: 'raw psql \\copy (query) csv',
  run: async (dir) => {
    await ctx.tool('psql', ['-X', '-q', '-c', `\\copy (${BIG_QUERY}) to '${path.join(dir, 'out.csv')}' csv header`]);
    return {};
  },
}));

registerCase((ctx) => ({
  id: 'kit-sql-csv',
  label: 'kit db:sql --csv (cursor)',
  run: (dir) => ctx.kit(dir, ['db-sql', BIG_QUERY, '--csv', path.join(dir, 'out.csv')]),
}));
