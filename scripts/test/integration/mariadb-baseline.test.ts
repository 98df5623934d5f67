/**
 * The raw tools' round trip on MariaDB 10.11, the baseline for the second engine (issue 22): the
 * awkward MySQL corpus dumped with mariadb-dump and restored with the mariadb client into a fresh
 * database gives the same fingerprint (rows of every table, definitions of every table, view,
 * routine, trigger and event). Whatever the kit's MariaDB engine does later must do at least this.
 * The server is started by this file alone, so PostgreSQL-only runs never start one.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../support/harness.js';
import { awkwardUsersSql, fingerprintMariaDb, MARIADB_CORPUS, processesOf, startMariaDb, type MariaDb } from '../support/mariadb.js';

/** The children of this test process that are still running, by name. */
function childrenNamed(prefix: string): string[] {
  const names: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(ppid) === process.pid && state !== 'Z' && comm.startsWith(prefix)) names.push(`${pid} ${comm}`);
    } catch {
      // it ended while being read
    }
  }
  return names;
}

describe('MariaDB raw-tool baseline', () => {
  let server: MariaDb;
  let work: string;

  beforeAll(async () => {
    server = await startMariaDb();
    work = mkdtempSync(path.join(tmpdir(), 'pgkit-mariadb-dump-'));
  });

  afterAll(async () => {
    await server?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('mariadb-dump and the mariadb client carry the awkward corpus unchanged', async () => {
    const source = await server.createDatabase();
    await server.sql(readFileSync(MARIADB_CORPUS, 'utf8'), source);
    await server.sql(awkwardUsersSql(source));
    const before = await fingerprintMariaDb(server, source);
    // The corpus really is awkward: every kind of object is there and every table has rows.
    expect(Object.keys(before.tables)).toHaveLength(9);
    expect(Object.values(before.tables).every((t) => !t.startsWith('0 '))).toBe(true);
    for (const kind of ['TABLE', 'VIEW', 'PROCEDURE', 'FUNCTION', 'TRIGGER', 'EVENT']) expect(before.definitions.some((d) => d.startsWith(`${kind} `))).toBe(true);

    const dump = path.join(work, 'dump.sql');
    await server.tool('mariadb-dump', ['--single-transaction', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', source], { stdoutFile: dump });
    expect(statSync(dump).size).toBeGreaterThan(1000);
    expect(readFileSync(dump, 'utf8')).not.toContain(server.password);

    const target = await server.createDatabase();
    await server.tool('mariadb', ['--default-character-set=utf8mb4', target], { stdinFile: dump });
    const after = await fingerprintMariaDb(server, target);
    expect(after).toEqual(before);

    // The fingerprint sees a single changed byte in one row, so the comparison above can fail.
    await server.sql("UPDATE blobs SET var_bytes = UNHEX('00FF00FF0A0D5C28') WHERE id = 1;", target);
    const changed = await fingerprintMariaDb(server, target);
    expect(changed.tables.blobs).not.toEqual(before.tables.blobs);
    expect({ ...changed.tables, blobs: before.tables.blobs }).toEqual(before.tables);
    // And a changed definition.
    await server.sql('CREATE OR REPLACE VIEW `odd view` AS SELECT `the id` FROM `odd table ``name`` \'q\'`;', target);
    expect((await fingerprintMariaDb(server, target)).definitions).not.toEqual(before.definitions);
  });

  it('stopping leaves no server, no client and no files behind', async () => {
    const base = server.base;
    expect(processesOf(server)).toHaveLength(1);
    await server.stop();
    expect(processesOf(server)).toEqual([]);
    expect(childrenNamed('mariadb')).toEqual([]);
    expect(existsSync(base)).toBe(false);
  });

  it('a test process killed outright takes its server with it', async () => {
    const script = path.join(work, 'owner.mts');
    const support = path.join(REPO, 'scripts/test/support/mariadb.ts');
    writeFileSync(script, `import { startMariaDb } from ${JSON.stringify(support)};\nconst s = await startMariaDb();\nconsole.log(JSON.stringify({ pid: s.pid, base: s.base }));\nsetInterval(() => undefined, 1000);\n`);
    const owner = spawn(process.execPath, ['--import', 'tsx', script], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    owner.stdout!.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 60_000;
    while (!out.includes('\n') && Date.now() < deadline && owner.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    const started = JSON.parse(out) as { pid: number; base: string };
    try {
      expect(existsSync(`/proc/${started.pid}`)).toBe(true);
      owner.kill('SIGKILL');
      const gone = Date.now() + 30_000;
      while (existsSync(`/proc/${started.pid}`) && Date.now() < gone) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(`/proc/${started.pid}`)).toBe(false);
    } finally {
      if (existsSync(`/proc/${started.pid}`)) process.kill(started.pid, 'SIGKILL');
      rmSync(started.base, { recursive: true, force: true });
    }
  });
});
