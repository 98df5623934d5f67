/**
 * The MySQL/MariaDB engine's restore (issue 22): a scratch load, a row check, one RENAME TABLE,
 * the routines, views, triggers and events made again. Judged on a real MariaDB 10.11 against the
 * raw `mariadb < dump` restore, and under real faults: a dump that fails part-way, a row count
 * that differs, the kit's connection killed right after the rename, and the kit itself killed
 * outright during the load and right after the rename. Whatever happens the target is the backup
 * or exactly what it was, and no kit database is left once the next run has repaired.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/harness.js';
import { fingerprintMariaDb, MARIADB_CORPUS, startMariaDb, type MariaDb, type MariaDbFingerprint } from '../support/mariadb.js';
import type { Target } from '../../lib/config/target.js';
import type { Reporter } from '../../lib/context.js';
import { repairLeftovers, restoreBySwap, type MySqlSwapPlan } from '../../lib/engines/mysql/swap.js';
import { restoreIntoScratch } from '../../lib/engines/mysql/scratch.js';
import type { RunningProcess } from '../../lib/proc/process.js';
import { openMySql } from '../../lib/engines/mysql/client.js';

let server: MariaDb;
let work: string;
let dump: string;
let corpus: MariaDbFingerprint;
let corpusRows: Record<string, number>;
let stamps = 0;

function targetOf(database: string): Target {
  return { host: server.host, port: server.port, user: server.user, password: server.password, database, params: {}, env: 'test', source: 'test', protected: false };
}

function plan(overrides: Partial<MySqlSwapPlan> = {}): MySqlSwapPlan {
  return { keepOld: false, expectedRows: corpusRows, stamp: `20261208_0100${String(stamps++).padStart(2, '0')}`, lockTimeoutSeconds: 30, ...overrides };
}

function reporter(notices: string[] = []): Reporter {
  return { progress: () => undefined, notice: (m) => notices.push(m) };
}

/** A database that is not the backup: other tables, other rows, a view, a routine and a trigger of its own. */
async function occupiedDatabase(): Promise<string> {
  const db = await server.createDatabase();
  await server.sql(
    `CREATE TABLE customers (id INT PRIMARY KEY, note TEXT);
     INSERT INTO customers VALUES (1, 'old one'), (2, 'old two');
     CREATE TABLE only_here (k VARCHAR(10) PRIMARY KEY);
     INSERT INTO only_here VALUES ('x');
     CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, what TEXT);
     CREATE VIEW old_view AS SELECT id FROM customers;
     CREATE VIEW \`big spenders\` AS SELECT note FROM customers;
     CREATE PROCEDURE old_proc() SELECT 1;
     CREATE TRIGGER old_trigger AFTER INSERT ON customers FOR EACH ROW INSERT INTO audit (what) VALUES ('old trigger');`,
    db,
  );
  return db;
}

/** Names of the databases the kit made and left. */
async function kitDatabases(): Promise<string[]> {
  return (await server.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '%\\_kit\\_%' OR SCHEMA_COMMENT LIKE 'pg-backup-kit%';")).split('\n').filter(Boolean);
}

beforeAll(async () => {
  server = await startMariaDb();
  work = mkdtempSync(path.join(tmpdir(), 'pgkit-mysql-swap-'));
  const source = await server.createDatabase();
  await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
  dump = path.join(work, 'corpus.sql');
  await server.tool('mariadb-dump', ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', source], { stdoutFile: dump });
  // The baseline: what the raw client makes of the same dump in an empty database.
  const raw = await server.createDatabase();
  await server.tool('mariadb', ['--default-character-set=utf8mb4', raw], { stdinFile: dump });
  corpus = await fingerprintMariaDb(server, raw);
  corpusRows = Object.fromEntries(Object.entries(corpus.tables).map(([t, v]) => [t, Number(v.split(' ')[0])]));
}, 300_000);

afterAll(async () => {
  await server?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('MySQL restore by swap', () => {
  it('replaces a database holding other data with exactly what the raw client restores, and everything in it works', async () => {
    const db = await occupiedDatabase();
    const result = await restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan(), reporter(), new AbortController().signal);
    expect(result.oldDatabase).toBeUndefined();
    expect(await fingerprintMariaDb(server, db)).toEqual(corpus);
    expect(await kitDatabases()).toEqual([]);
    // The routines, trigger and view are the backup's and run against the swapped tables.
    const before = Number(await server.sql('SELECT COUNT(*) FROM audit;', db));
    await server.sql("CALL `close customer`(1, @n); INSERT INTO orders (customer_id, quantity, unit_price) VALUES (1, 1, 1.00);", db);
    expect(Number(await server.sql('SELECT COUNT(*) FROM audit;', db))).toBe(before + 2);
    expect((await server.sql("SELECT status FROM customers WHERE id = 1;", db)).trim()).toBe('gone');
    expect(Number(await server.sql('SELECT COUNT(*) FROM customer_totals;', db))).toBeGreaterThan(0);
  });

  it('restores into a database that does not exist yet, and keeps the previous tables with keepOld', async () => {
    const missing = `m_new_${Date.now()}`;
    await restoreBySwap(targetOf(missing), { file: dump, gzip: false }, plan(), reporter(), new AbortController().signal);
    expect(await fingerprintMariaDb(server, missing)).toEqual(corpus);

    const db = await occupiedDatabase();
    const { oldDatabase } = await restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan({ keepOld: true }), reporter(), new AbortController().signal);
    expect(await fingerprintMariaDb(server, db)).toEqual(corpus);
    expect(oldDatabase).toMatch(/_kit_old_/);
    expect((await server.sql('SELECT note FROM customers ORDER BY id;', oldDatabase)).trim().split('\n')).toEqual(['old one', 'old two']);
    await server.sql(`DROP DATABASE \`${oldDatabase}\`;`);
    expect(await kitDatabases()).toEqual([]);
  });

  it('derives kit database names that fit in 64 characters from a 64-character target name', async () => {
    const long = `m_${'x'.repeat(62)}`;
    await restoreBySwap(targetOf(long), { file: dump, gzip: false }, plan(), reporter(), new AbortController().signal);
    expect(await fingerprintMariaDb(server, long)).toEqual(corpus);
    expect(await kitDatabases()).toEqual([]);
  });
});

describe('MySQL restore by swap, faults', () => {
  it.each([
    ['a truncated dump', (text: string) => text.slice(0, Math.floor(text.length * 0.6))],
    ['a statement that errors part-way', (text: string) => text.replace(/(INSERT INTO `orders`)/, 'INSERT INTO no_such_table VALUES (1);\n$1')],
  ])('%s leaves the target exactly as it was and no scratch database', async (_name, damage) => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    const bad = path.join(work, `bad-${stamps}.sql`);
    writeFileSync(bad, damage(readFileSync(dump, 'utf8')));
    const failure = restoreBySwap(targetOf(db), { file: bad, gzip: false }, plan(), reporter(), new AbortController().signal);
    await expect(failure).rejects.toMatchObject({ code: expect.stringMatching(/RESTORE_FAILED|ROW_COUNT_MISMATCH/) });
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });

  it('a row count that differs from the backup refuses the swap', async () => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    const failure = restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan({ expectedRows: { ...corpusRows, orders: corpusRows.orders! + 1 } }), reporter(), new AbortController().signal);
    await expect(failure).rejects.toMatchObject({ code: 'ROW_COUNT_MISMATCH', message: expect.stringMatching(/`orders` has \d+ rows, the backup recorded \d+/) });
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });

  it('another session holding a table the RENAME needs: it gives up after --lock-timeout, and the triggers it dropped are back', async () => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    const holder = await openMySql(targetOf(db));
    try {
      await holder.query('START TRANSACTION');
      await holder.query('SELECT * FROM only_here');
      const failure = restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan({ lockTimeoutSeconds: 2 }), reporter(), new AbortController().signal);
      await expect(failure).rejects.toMatchObject({ code: 'LOCK_TIMEOUT', message: expect.stringMatching(new RegExp(`^The restore waited 2s for a table lock on ${db} and gave up: .* ${db} is unchanged\\.`)) });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      await holder.end();
    }
    expect(before.definitions.some((d) => d.startsWith('TRIGGER old_trigger'))).toBe(true);
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });

  it("the kit's connection killed right after the rename: the tables are renamed back and the old objects made again", async () => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    const notices: string[] = [];
    const paused = new Promise<void>((resolve) => {
      notices.push = (...items: string[]) => {
        if (items.some((m) => m.includes('test pause: after-rename'))) resolve();
        return Array.prototype.push.apply(notices, items);
      };
    });
    const running = restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan(), reporter(notices), new AbortController().signal, { PGKIT_TEST_PAUSE: 'after-rename' });
    running.catch(() => undefined);
    await paused;
    // The swap really happened: the target holds the backup's tables now.
    expect(await server.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'only_here';", db)).toBe('0\n');
    const idle = (await server.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'admin' AND COMMAND = 'Sleep' AND ID <> CONNECTION_ID();")).split('\n').filter(Boolean);
    expect(idle.length).toBeGreaterThan(0);
    await server.sql(idle.map((id) => `KILL ${id};`).join('\n'));
    process.emit('SIGTERM');
    await expect(running).rejects.toMatchObject({ code: 'RESTORE_FAILED', message: expect.stringMatching(new RegExp(`^The restore failed while swapping the restored tables into ${db}: .*\\. ${db} is unchanged\\.$`)) });
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
  });
});

/** Run one restore in a process of its own that the test can kill outright. */
function kitProcess(database: string, file: string, env: Record<string, string>): { child: ReturnType<typeof spawn>; stderr: () => string } {
  const script = path.join(work, `kit-${stamps}.mts`);
  const swap = path.join(REPO, 'scripts/lib/engines/mysql/swap.ts');
  writeFileSync(
    script,
    `import { restoreBySwap } from ${JSON.stringify(swap)};
const target = JSON.parse(process.env.KIT_TARGET);
const reporter = { progress: () => undefined, notice: (m) => process.stderr.write(m + '\\n') };
await restoreBySwap(target, { file: ${JSON.stringify(file)}, gzip: false }, JSON.parse(process.env.KIT_PLAN), reporter, new AbortController().signal);
`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env, KIT_TARGET: JSON.stringify(targetOf(database)), KIT_PLAN: JSON.stringify(plan()) },
  });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  return { child, stderr: () => err };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000, said = () => ''): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${said()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function killOutright(child: ReturnType<typeof spawn>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the kit process ended (${child.exitCode ?? child.signalCode}) before it could be killed`);
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

describe("MySQL restore by swap, the kit killed outright", { timeout: 180_000 }, () => {
  it('during the load: the next run drops the half-loaded copy, and the target never changed', async () => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    // A real dump that takes its time half-way through, so the kill lands inside the load.
    const slow = path.join(work, 'slow.sql');
    writeFileSync(slow, readFileSync(dump, 'utf8').replace(/(INSERT INTO `orders`)/, 'DO SLEEP(600);\n$1'));
    const kit = kitProcess(db, slow, {});
    await until('the load to reach its pause', async () => (await server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DO SLEEP(600)%';")).trim() !== '0', 60_000, kit.stderr);
    expect((await kitDatabases()).some((d) => d.includes('_kit_new_'))).toBe(true);
    await killOutright(kit.child);
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    const notices: string[] = [];
    await until('the orphaned load to be dropped', async () => {
      await repairLeftovers(targetOf(db), (m) => notices.push(m));
      return (await kitDatabases()).length === 0;
    });
    expect(notices.join('\n')).toMatch(/dropped .*_kit_new_.*killed/);
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
  });

  it('right after the rename: the next run undoes the swap, the target is exactly as it was', async () => {
    const db = await occupiedDatabase();
    const before = await fingerprintMariaDb(server, db);
    const kit = kitProcess(db, dump, { PGKIT_TEST_PAUSE: 'after-rename' });
    await until("the rename", () => kit.stderr().includes("test pause: after-rename"), 60_000, () => `exit ${kit.child.exitCode} ${kit.stderr()}`);
    await killOutright(kit.child);
    // Half-way: the target holds the backup's tables without its routines, views or triggers.
    expect(await fingerprintMariaDb(server, db)).not.toEqual(before);
    const notices: string[] = [];
    await repairLeftovers(targetOf(db), (m) => notices.push(m));
    expect(notices.join('\n')).toMatch(/undid a restore of .* killed while swapping tables/);
    expect(await fingerprintMariaDb(server, db)).toEqual(before);
    expect(await kitDatabases()).toEqual([]);
    // And the next restore runs cleanly over the repaired target.
    await restoreBySwap(targetOf(db), { file: dump, gzip: false }, plan(), reporter(), new AbortController().signal);
    expect(await fingerprintMariaDb(server, db)).toEqual(corpus);
  });
});

describe('MySQL restore by swap, killed after its commit mark', { timeout: 180_000 }, () => {
  it('the next run finishes it: the backup is in place and the old tables are gone', async () => {
    const db = await occupiedDatabase();
    const kit = kitProcess(db, dump, { PGKIT_TEST_PAUSE: 'after-commit' });
    await until('the commit mark', () => kit.stderr().includes('test pause: after-commit'), 60_000, () => `exit ${kit.child.exitCode} ${kit.stderr()}`);
    await killOutright(kit.child);
    expect((await kitDatabases()).some((d) => d.includes('_kit_old_'))).toBe(true);
    const notices: string[] = [];
    await repairLeftovers(targetOf(db), (m) => notices.push(m));
    expect(notices.join('\n')).toMatch(/finished a restore of .* killed after its swap/);
    expect(await fingerprintMariaDb(server, db)).toEqual(corpus);
    expect(await kitDatabases()).toEqual([]);
  });
});

describe('MySQL deep verify scratch database', { timeout: 120_000 }, () => {
  const readAll = async (dump: RunningProcess): Promise<string> => {
    let text = '';
    for await (const chunk of dump.child.stdout!) text += (chunk as Buffer).toString();
    await dump.done;
    return text;
  };
  const request = (file: string) => ({ server: targetOf(''), database: 'verified', source: { file, gzip: file.endsWith('.gz') }, stamp: `20261208_0200${String(stamps++).padStart(2, '0')}`, reporter: reporter(), signal: new AbortController().signal });

  it('restores a .sql.gz into a scratch database, re-dumps it, and drops it', async () => {
    const gz = path.join(work, 'corpus.sql.gz');
    writeFileSync(gz, gzipSync(readFileSync(dump)));
    const outcome = await restoreIntoScratch(request(gz), readAll);
    expect(outcome.restored).toBe(true);
    if (!outcome.restored) return;
    expect(outcome.rows).toEqual(corpusRows);
    expect(outcome.stats).toContain('INSERT INTO `orders` VALUES');
    expect(outcome.stats).toContain('-- Dump completed');
    expect(await kitDatabases()).toEqual([]);
  });

  it('a script that fails part-way is a problem to report, and the scratch database is gone', async () => {
    const bad = path.join(work, 'verify-bad.sql');
    writeFileSync(bad, readFileSync(dump, 'utf8').replace(/(INSERT INTO `orders`)/, 'INSERT INTO no_such_table VALUES (1);\n$1'));
    const outcome = await restoreIntoScratch(request(bad), readAll);
    expect(outcome).toMatchObject({ restored: false, problem: expect.stringMatching(/^Restoring into verified_kit_verify_\d+_\d+ failed: .*ERROR 1100 .*no_such_table/) });
    expect(await kitDatabases()).toEqual([]);
  });

  it('a verify killed outright leaves its marked scratch database to the next run, which drops it', async () => {
    const slow = path.join(work, 'verify-slow.sql');
    writeFileSync(slow, readFileSync(dump, 'utf8').replace(/(INSERT INTO `orders`)/, 'DO SLEEP(600);\n$1'));
    const { reporter: _r, signal: _s, ...plain } = request(slow);
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `const r = JSON.parse(process.env.KIT_REQUEST); import(${JSON.stringify(path.join(REPO, 'scripts/lib/engines/mysql/scratch.ts'))}).then((m) => m.restoreIntoScratch({ ...r, reporter: { progress() {}, notice() {} }, signal: new AbortController().signal }, async () => undefined));`], {
      cwd: REPO,
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KIT_REQUEST: JSON.stringify(plain) },
    });
    await until('the load to reach its pause', async () => (await server.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'DO SLEEP(600)%';")).trim() !== '0');
    expect((await kitDatabases()).some((d) => d.includes('_kit_verify_'))).toBe(true);
    await killOutright(child);
    const notices: string[] = [];
    await repairLeftovers(targetOf(''), (m) => notices.push(m));
    expect(notices.join('\n')).toMatch(/dropped verified_kit_verify_.*killed/);
    expect(await kitDatabases()).toEqual([]);
  });
});
