import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { cli, createDatabase, makeProject, query, readInfo, runTool } from '../support/harness.js';

const SEED_ROWS = 200_000;

/** Commits an insert into ledger and a matching bump of totals, every few milliseconds. */
function startWriter(url: string): { commits: () => number; stop: () => Promise<void> } {
  const client = new pg.Client({ connectionString: url });
  let running = true;
  let commits = 0;
  const loop = (async () => {
    await client.connect();
    while (running) {
      await client.query('BEGIN');
      await client.query('INSERT INTO ledger (v) VALUES (1)');
      await client.query('UPDATE totals SET n = n + 1');
      await client.query('COMMIT');
      commits++;
      await new Promise((r) => setTimeout(r, 3));
    }
    await client.end();
  })();
  return {
    commits: () => commits,
    async stop() {
      running = false;
      await loop;
    },
  };
}

describe('db:backup takes every artifact from one snapshot', () => {
  it('with a writer committing every few milliseconds, all four artifacts and .info agree exactly', async () => {
    const db = await createDatabase({
      sql: `CREATE TABLE ledger (id bigserial PRIMARY KEY, v int, note text DEFAULT repeat('x', 40));
            INSERT INTO ledger (v) SELECT 1 FROM generate_series(1, ${SEED_ROWS});
            CREATE TABLE totals (n bigint); INSERT INTO totals VALUES (0);`,
    });
    const project = makeProject();
    const writer = startWriter(db.url);
    await new Promise((r) => setTimeout(r, 200));
    const before = writer.commits();
    const run = await cli('pg-backup', ['--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    const during = writer.commits() - before;
    await writer.stop();
    expect(run.code).toBe(0);
    expect(during).toBeGreaterThan(20); // the writer really was committing throughout

    const result = run.json<BackupResult>();
    const info = readInfo(project, result.id);
    const recorded = info.statistics.tables['public.ledger']!.rows;
    expect(recorded).toBeGreaterThan(SEED_ROWS);
    expect(info.statistics.tables['public.totals']!.rows).toBe(1);

    for (const file of result.files.filter((f) => f.format !== 'globals')) {
      const copy = await createDatabase();
      if (file.format === 'sql') await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file.path], copy.url);
      else if (file.format === 'sql.gz') await runTool('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], copy.url, createReadStream(file.path).pipe(createGunzip()));
      else await runTool('pg_restore', ['--exit-on-error', '-d', copy.name, file.path], copy.url);
      const [row] = await query<{ ledger: string; total: string; max: string }>(copy.url, 'SELECT (SELECT count(*) FROM ledger) AS ledger, (SELECT n FROM totals) AS total, (SELECT max(id) FROM ledger) AS max');
      expect(Number(row!.ledger), file.format).toBe(recorded);
      // both tables were read at the same instant: every committed insert has its matching bump
      expect(Number(row!.total), file.format).toBe(recorded - SEED_ROWS);
      expect(Number(row!.max), file.format).toBe(recorded);
    }
  });
});
