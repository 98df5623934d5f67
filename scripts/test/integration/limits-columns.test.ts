/**
 * Tables at PostgreSQL's column limits, backed up in every format, restored by the kit and
 * deep-verified: a COPY statement's column list is as long as the table is wide, and nothing in
 * the kit may read such a statement differently because of its length (issue 19).
 */
import { describe, expect, it } from 'vitest';
import { createDatabase, query } from '../support/harness.js';
import { dropDatabase, ident, name63, roundTrip } from '../support/limits.js';

/** PostgreSQL's maximum number of columns in a table. */
const MAX_COLUMNS = 1600;

/**
 * One table of `width` int columns named column_number_1…, built on the server, with rows where
 * every column is NULL in some rows and set in others (a row of nothing but NULLs included).
 */
function intTable(table: string, width: number, rows: number): string {
  return `DO $do$ BEGIN
    EXECUTE (SELECT format('CREATE TABLE %I (%s)', '${table}', string_agg(format('column_number_%s int', i), ', ' ORDER BY i)) FROM generate_series(1, ${width}) i);
    EXECUTE (SELECT format('INSERT INTO %I SELECT %s FROM generate_series(1, ${rows}) g', '${table}',
      string_agg(format('CASE WHEN g = 1 OR (g + %1$s) %% 5 = 0 THEN NULL ELSE g * %1$s END', i), ', ' ORDER BY i)) FROM generate_series(1, ${width}) i);
  END $do$`;
}

// Each case is a backup, four restores and two deep verifications: minutes on a busy machine.
describe('tables as wide as PostgreSQL allows, in every format', { timeout: 300_000 }, () => {
  it.each([300, 400, MAX_COLUMNS])('%i int columns named column_number_N, with NULLs', async (width) => {
    const source = await createDatabase({ sql: intTable(`wide_${width}`, width, 40) });
    const n = (await query<{ n: number }>(source.url, `SELECT count(*)::int AS n FROM information_schema.columns WHERE table_name = 'wide_${width}'`))[0]!.n;
    expect(n).toBe(width);
    await roundTrip(`${width} columns`, source);
    await dropDatabase(source);
  });

  // The backup of all four formats reads the plain stream; a dump-only backup does not, so its
  // restore and deep verify are the first to read the wide COPY statement (issue 19 saw a good
  // archive called damaged).
  it('400 int columns, a dump-only backup', async () => {
    const source = await createDatabase({ sql: intTable('wide_dump_only', 400, 40) });
    await roundTrip('400 columns, dump only', source, { formats: ['dump'] });
    await dropDatabase(source);
  });

  it('1,600 columns with 63-byte quoted names (a 100 KB+ COPY column list) and a row at the fixed-width maximum', async () => {
    // Upper case forces pg_dump to quote every name: 65 bytes each in the COPY column list.
    const names = Array.from({ length: MAX_COLUMNS }, (_, i) => name63(`Col_${String(i + 1).padStart(4, '0')}_`, 'W'));
    // Fixed-width values cannot be TOASTed, so a row must fit in one 8 kB page: 430 bigint and
    // 1,170 int columns make a row of 24 + 430×8 + 1,170×4 = 8,144 bytes, 20 short of PostgreSQL's maximum.
    const types = names.map((_, i) => (i < 430 ? 'bigint' : 'int'));
    const columns = names.map((name, i) => `${ident(name)} ${types[i]}`).join(', ');
    const fullRow = types.map((t) => (t === 'bigint' ? '9223372036854775807' : '-2147483648')).join(', ');
    const sparseRow = types.map((_, i) => (i % 3 === 0 ? String(i) : 'NULL')).join(', ');
    const table = ident(name63('Wide Table With Long Names ', 'T'));
    // Over 100 kB of SQL: sent over the protocol, since one argv string may not exceed 128 kB.
    const source = await createDatabase();
    await query(source.url, `CREATE TABLE ${table} (${columns}); INSERT INTO ${table} VALUES (${fullRow}), (${sparseRow}), (${types.map(() => 'NULL').join(', ')})`);
    expect(names.reduce((bytes, name) => bytes + Buffer.byteLength(ident(name)) + 2, 0)).toBeGreaterThan(100_000);
    const width = (await query<{ width: number }>(source.url, `SELECT max(pg_column_size(t.*))::int AS width FROM ${table} t`))[0]!.width;
    expect(width).toBeGreaterThan(8_100);
    await roundTrip('1,600 columns with 63-byte names', source);
    await dropDatabase(source);
  });
});
