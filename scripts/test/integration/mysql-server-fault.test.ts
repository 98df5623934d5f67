/**
 * The MariaDB server itself goes away while db:restore loads its scratch database: the restore
 * fails saying so, and once the server is back the target is exactly as it was; the next
 * restore clears what the interrupted one left and restores. A server file of its own, since the
 * test crashes it.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, makeProject, startCli, waitFor } from '../support/harness.js';
import { fingerprintMariaDb, scratchLoaderOf, startMariaDb, type MariaDb } from '../support/mariadb.js';

let server: MariaDb;
let source: string;

const url = (database: string) => `mysql://admin:${server.password}@127.0.0.1:${server.port}/${database}`;

beforeAll(async () => {
  server = await startMariaDb();
  source = await server.createDatabase();
  await server.sql("CREATE TABLE filler (id INT PRIMARY KEY, body VARCHAR(400)) ENGINE=InnoDB; INSERT INTO filler SELECT seq, REPEAT(CONCAT('row ', seq, ' \u{1F600} '), 20) FROM seq_1_to_150000; CREATE VIEW recent AS SELECT id FROM filler WHERE id > 149990;", source);
}, 300_000);

afterAll(async () => {
  await server?.stop();
});

const kitDatabases = async () => (await server.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_kit\\_%';")).split('\n').filter(Boolean);

it('a server killed mid-restore: the restore fails saying the server went away, the target is unchanged after restart, and the next restore repairs and restores', { timeout: 300_000 }, async () => {
  const project = makeProject();
  const backup = await cli('pg-backup', ['--format', 'sql.gz', '--json'], { cwd: project, env: { DATABASE_URL: url(source) } });
  expect(backup.code, backup.stderr).toBe(0);
  const id = backup.json<{ id: string }>().id;
  const target = await server.createDatabase();
  await server.sql('CREATE TABLE junk (a INT PRIMARY KEY) ENGINE=InnoDB; INSERT INTO junk VALUES (5); CREATE VIEW junk_view AS SELECT a FROM junk;', target);
  const before = await fingerprintMariaDb(server, target);
  const env = { DATABASE_URL: url(target) };

  const running = startCli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env });
  await waitFor('the scratch load to be under way', () => scratchLoaderOf(target), 60_000);
  await server.crash();
  const failed = await running.result;
  expect(failed.code, failed.stderr).toBe(4);
  expect(failed.stderr).toMatch(/The connection to the server was lost during the restore \(Restoring into \S+_kit_new_\S+ \(the target was not touched\)/);
  expect(failed.stderr).toMatch(/the next pnpm db:restore on this host drops \S+_kit_new_/);
  expect(failed.stderr).toMatch(/The restored tables were not swapped in, so the target is as it was/);
  expect(failed.stderr).not.toContain(server.password);

  await server.restart();
  expect(await fingerprintMariaDb(server, target)).toEqual(before);

  const again = await cli('pg-restore', [id, '--force', '--no-safety-backup'], { cwd: project, env });
  expect(again.code, again.stderr).toBe(0);
  expect(await fingerprintMariaDb(server, target)).toEqual(await fingerprintMariaDb(server, source));
  expect(await kitDatabases()).toEqual([]);
});
