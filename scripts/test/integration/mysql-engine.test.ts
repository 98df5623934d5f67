/**
 * The MySQL/MariaDB engine against a real MariaDB 10.11: its connections, what it says a server
 * is, its failures in the kit's words, and its dump program judged against the server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { targetFromUrl, type Target } from '../../lib/config/target.js';
import { engineFor } from '../../lib/engines/registry.js';
import { KitError } from '../../lib/errors.js';
import { startMariaDb, type MariaDb } from '../support/mariadb.js';

const engine = engineFor('mysql');
let server: MariaDb;
let database: string;

beforeAll(async () => {
  server = await startMariaDb();
  database = await server.createDatabase();
  await server.sql('CREATE TABLE t (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB; INSERT INTO t VALUES (1, \'one\'), (2, \'two\');', database);
  // The harness's admin account is for 127.0.0.1; over the socket a client is 'localhost'.
  await server.sql(`CREATE USER 'sock user'@'localhost' IDENTIFIED BY 'sock-pw'; GRANT ALL ON \`${database}\`.* TO 'sock user'@'localhost';`);
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

const url = (overrides: { password?: string; database?: string; socket?: boolean } = {}) => {
  const db = overrides.database ?? database;
  const pw = encodeURIComponent(overrides.password ?? server.password);
  return overrides.socket ? `mysql://sock%20user:sock-pw@localhost/${db}?socket=${server.socket}` : `mysql://${server.user}:${pw}@${server.host}:${server.port}/${db}`;
};
const target = (overrides: Parameters<typeof url>[0] = {}): Target => targetFromUrl(url(overrides), 'the test', 'default');

async function kitError(promise: Promise<unknown>): Promise<KitError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KitError);
  return error as KitError;
}

describe('the MySQL engine on MariaDB 10.11', () => {
  it('connects over TCP and over the socket, and says what the server is', async () => {
    for (const socket of [false, true]) {
      const client = await engine.connectWithWait(target({ socket }), 0);
      try {
        const facts = await engine.serverFacts(client);
        expect(facts.flavour).toBe('MariaDB');
        expect(facts.release).toMatch(/^10\.11\.\d+$/);
        expect(facts.major).toBe(10);
        expect(facts.versionNum).toBeGreaterThanOrEqual(101100);
        expect(facts.databaseSize).toBeGreaterThan(0);
        expect(facts.currentUser).toMatch(socket ? /^sock user@localhost$/ : new RegExp(`^${server.user}@`));
        expect((await client.query<{ n: string }>('SELECT COUNT(*) AS n FROM t')).rows[0]!.n).toBe('2');
      } finally {
        await client.end();
      }
    }
  });

  it('says a wrong password, a missing database and a server not there in the kit\'s words', async () => {
    const denied = await kitError(engine.connectWithWait(target({ password: 'not-the-password' }), 0));
    expect(denied.code).toBe('AUTH_FAILED');
    expect(denied.message).not.toContain('not-the-password');
    expect((await kitError(engine.connectWithWait(target({ database: 'no_such_db' }), 0))).code).toBe('DATABASE_MISSING');
    const gone = { ...target(), port: 1 };
    const started = Date.now();
    const unreachable = await kitError(engine.connectWithWait(gone, 1));
    expect(unreachable.code).toBe('SERVER_UNREACHABLE');
    expect(unreachable.message).toMatch(/Waited 1s/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('finds mariadb-dump fitting the server, and dumps with the password in no argv', async () => {
    const client = await engine.connect(target());
    const facts = await engine.serverFacts(client);
    await client.end();
    const tool = await engine.locateTool('mariadb-dump', facts);
    expect(tool.major).toBe(10);
    const t = target();
    const running = engine.dump({ tool, target: t, format: 'plain', snapshot: 'single-transaction', scope: { schemas: [], tables: [], excludeTables: [], lockWaitTimeout: '60s' }, env: engine.childEnv(t) });
    expect(running.child.spawnargs.join(' ')).not.toContain(server.password);
    let out = '';
    running.child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    await running.done;
    expect(out).toMatch(/CREATE TABLE `t`/);
    expect(out).toMatch(/-- Dump completed on /);
  });
});
