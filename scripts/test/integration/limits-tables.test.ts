/**
 * A database of 10,000 tables, backed up in every format, restored by the kit and deep-verified
 * (issue 19). Its own file, so vitest runs it beside the other limit tests.
 */
import { describe, expect, it } from 'vitest';
import { createDatabase, query } from '../support/harness.js';
import { dropDatabase, roundTrip } from '../support/limits.js';

const SCHEMAS = 10;
const TABLES_PER_SCHEMA = 1000;

describe('many tables, in every format', () => {
  it(`${SCHEMAS * TABLES_PER_SCHEMA} tables with a row each`, { timeout: 600_000 }, async () => {
    const source = await createDatabase();
    // One transaction per schema: a single one would need a lock for each of the 10,000 tables.
    for (let s = 1; s <= SCHEMAS; s++) {
      await query(
        source.url,
        `CREATE SCHEMA many_${s};
         DO $$ BEGIN FOR i IN 1..${TABLES_PER_SCHEMA} LOOP
           EXECUTE format('CREATE TABLE many_${s}.t_%s (id int); INSERT INTO many_${s}.t_%s VALUES (%s)', i, i, i * ${s});
         END LOOP; END $$`,
      );
    }
    const n = (await query<{ n: number }>(source.url, `SELECT count(*)::int AS n FROM pg_tables WHERE schemaname LIKE 'many\\_%'`))[0]!.n;
    expect(n).toBe(SCHEMAS * TABLES_PER_SCHEMA);
    await roundTrip('10,000 tables', source, { deepVerify: ['dump'] });
    await dropDatabase(source);
  });
});
