import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../support/backups.js';
import { cli, createDatabase, listBackupFiles, makeProject, query, urlFor, type TestDatabase } from '../support/harness.js';
import type { ExportMetadata } from '../../lib/format/export-metadata.js';
import type { ExportResult } from '../../lib/export/export.js';

type Chain = NonNullable<ExportMetadata['chain']>;

async function differential(project: string, db: TestDatabase, args: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<ExportResult & { stderr: string }> {
  const run = await cli('db-export', ['--differential', '--json', ...args], { cwd: project, env: { DATABASE_URL: db.url, ...env } });
  expect(run.code, run.stderr).toBe(0);
  return { ...run.json<ExportResult>(), stderr: run.stderr };
}

function metadataOf(exported: ExportResult): ExportMetadata & { chain: Chain } {
  const meta = JSON.parse(readFileSync(path.join(exported.path, 'metadata.json'), 'utf8')) as ExportMetadata;
  expect(meta.chain).toBeDefined();
  return meta as ExportMetadata & { chain: Chain };
}

/** The data rows (header left out) of one table's file in an export directory. */
function rowsOf(exported: ExportResult, file: string): string[] {
  return readFileSync(path.join(exported.path, file), 'utf8').split('\n').slice(1).filter(Boolean);
}

async function importChain(project: string, base: string, until: string | undefined): Promise<TestDatabase> {
  const target = await createDatabase();
  const run = await cli('db-import', [base, ...(until ? ['--until', until] : []), '--force', '--no-safety-backup', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
  expect(run.code, run.stderr).toBe(0);
  return target;
}

/** A second session that begins a transaction now and commits when told. */
async function openTransaction(url: string, sql: string): Promise<{ commit(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query(sql);
  return {
    async commit() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

const TABLE = (name: string, basisType = 'timestamptz') => `CREATE TABLE ${name} (id int PRIMARY KEY, v text, updated_at ${basisType} NOT NULL DEFAULT now());`;

describe('db:export --differential and db:import --until', () => {
  it('bug 1, time zones: a timestamp column is read in the database\'s zone, whatever the session\'s', async () => {
    const db = await createDatabase({ sql: `${TABLE('with_zone')} ${TABLE('without_zone', 'timestamp')}` });
    // The application's sessions write local time of a zone behind UTC: compared as UTC, their rows look hours old.
    await query(db.url, `ALTER DATABASE ${db.name} SET TimeZone = 'America/Los_Angeles'`);
    await query(db.url, "INSERT INTO with_zone (id, v) SELECT g, 'a' FROM generate_series(1, 5) g; INSERT INTO without_zone (id, v) SELECT g, 'a' FROM generate_series(1, 5) g");
    const project = makeProject();
    const elsewhere = { PGTZ: 'Asia/Tokyo', TZ: 'Asia/Tokyo' };
    await differential(project, db, [], elsewhere);
    await query(db.url, "UPDATE with_zone SET v = 'changed', updated_at = now() WHERE id = 1; UPDATE without_zone SET v = 'changed', updated_at = now() WHERE id = 1");
    const diff = await differential(project, db, [], elsewhere);
    const meta = metadataOf(diff);
    expect(diff.stderr).toBe('');
    expect(meta.chain).toMatchObject({ position: 1, timeZone: 'America/Los_Angeles' });
    expect(meta.chain.lowerBound).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$/);
    expect(rowsOf(diff, 'data/public.with_zone.csv').map((r) => r.split(',')[1])).toEqual(['changed']);
    expect(rowsOf(diff, 'data/public.without_zone.csv').map((r) => r.split(',')[1])).toEqual(['changed']);
  });

  it('bug 2, type validation: every unsuitable table is named up front, or exported in full with --skip-unsuitable', async () => {
    const db = await createDatabase({
      sql: `${TABLE('good')} CREATE TABLE texty (id int PRIMARY KEY, updated_at text); CREATE TABLE nobasis (id int PRIMARY KEY, v text);
            CREATE TABLE nokey (v text, updated_at timestamptz DEFAULT now()); CREATE TABLE custom (id int PRIMARY KEY, modified_at timestamp DEFAULT now());
            INSERT INTO good (id, v) VALUES (1, 'a'); INSERT INTO nokey (v) VALUES ('x'), ('y'); INSERT INTO nobasis VALUES (1, 'n');`,
    });
    const project = makeProject({ 'backup-kit.json': JSON.stringify({ export: { differential: { basis: { 'public.custom': 'modified_at' } } } }) });
    const env = { DATABASE_URL: db.url };
    const refused = await cli('db-export', ['--differential'], { cwd: project, env });
    expect(refused.code).toBe(24);
    expect(refused.stderr).toMatch(/public\.texty its basis column updated_at is text, not timestamptz or timestamp/);
    expect(refused.stderr).toMatch(/public\.nobasis has no column updated_at/);
    expect(refused.stderr).toMatch(/public\.nokey has no primary key/);
    expect(refused.stderr).not.toMatch(/public\.(good|custom)/);
    expect(refused.stderr).toMatch(/--skip-unsuitable/);
    expect(listBackupFiles(project).filter((f) => f.includes('export'))).toEqual([]);

    // an encrypted environment's exports cannot be read back for their key lists: refused
    const keyFile = path.join(project, 'age-key.txt');
    execFileSync('age-keygen', ['-o', keyFile], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', keyFile]).toString().trim();
    const sealed = await cli('db-export', ['--differential', '--zip', '--skip-unsuitable'], { cwd: project, env: { ...env, AGE_RECIPIENTS: recipient } });
    expect(sealed.code).toBe(16);
    expect(sealed.stderr).toMatch(/a differential export needs to read the previous export's key lists/);

    const base = await differential(project, db, ['--skip-unsuitable']);
    expect(metadataOf(base).chain.unsuitable.map((u) => u.table).sort()).toEqual(['public.nobasis', 'public.nokey', 'public.texty']);
    await query(db.url, "INSERT INTO nokey (v) VALUES ('z'); DELETE FROM nobasis; UPDATE custom SET modified_at = now()");
    const diff = await differential(project, db, ['--skip-unsuitable']);
    const meta = metadataOf(diff);
    const nokey = meta.tables.find((t) => t.name === 'public.nokey')!.chain!;
    expect([nokey.mode, nokey.keys, nokey.basis]).toEqual(['full', undefined, undefined]);
    expect(rowsOf(diff, 'data/public.nokey.csv').map((r) => r.split(',')[0]).sort()).toEqual(['x', 'y', 'z']);
    expect(rowsOf(diff, 'data/public.good.csv'), JSON.stringify([metadataOf(base).chain, meta.chain, await query(db.url, 'select * from good')])).toEqual([]);
    const restored = await importChain(project, base.id, 'latest');
    expect(await fingerprint(restored.url)).toEqual(await fingerprint(db.url));
  });

  it('bug 3, the race: a transaction that began before an export and commits after it is in the next differential', async () => {
    const db = await createDatabase({ sql: `${TABLE('t')} INSERT INTO t (id, v) VALUES (1, 'a'), (2, 'b'), (3, 'c');` });
    const project = makeProject();
    const base = await differential(project, db);
    // updated_at = now() is this transaction's START, earlier than the export that cannot see it
    const late = await openTransaction(db.url, "UPDATE t SET v = 'late', updated_at = now() WHERE id = 2");
    const first = await differential(project, db);
    expect(rowsOf(first, 'data/public.t.csv')).toEqual([]);
    await late.commit();
    const second = await differential(project, db);
    expect(rowsOf(second, 'data/public.t.csv').map((r) => r.split(',').slice(0, 2).join(','))).toEqual(['2,late']);
    const restored = await importChain(project, base.id, second.id);
    expect(await query(restored.url, 'SELECT id, v FROM t ORDER BY id')).toEqual([{ id: 1, v: 'a' }, { id: 2, v: 'late' }, { id: 3, v: 'c' }]);

    // a user that cannot see other sessions' transactions cannot know the bound: refused until it may
    const role = `reader_${db.name}`;
    await query(db.url, `CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw'; GRANT SELECT ON t TO ${role}`);
    const reader = { DATABASE_URL: urlFor(db.name, { user: role, password: 'reader-pw' }) };
    const other = await openTransaction(db.url, 'SELECT 1');
    try {
      const blind = await cli('db-export', ['--differential'], { cwd: project, env: reader });
      expect(blind.code).toBe(24);
      expect(blind.stderr).toMatch(/hides other sessions' transactions .*GRANT pg_read_all_stats TO <user>/);
      await query(db.url, `GRANT pg_read_all_stats TO ${role}`);
      const seeing = await cli('db-export', ['--differential'], { cwd: project, env: reader });
      expect(seeing.code, seeing.stderr).toBe(0);
    } finally {
      await other.commit();
      await query(db.url, `DROP OWNED BY ${role}; DROP ROLE ${role}`);
    }
  });

  it('bug 5, a bounded chain: after maxChain differentials, or past maxShare of the rows, a full export by itself', async () => {
    const db = await createDatabase({ sql: `${TABLE('t')} INSERT INTO t (id, v) SELECT g, 'v' FROM generate_series(1, 10) g;` });
    const project = makeProject({ 'backup-kit.json': JSON.stringify({ export: { differential: { maxChain: 2, maxShare: 0.5 } } }) });
    const base = await differential(project, db);
    const positions = [metadataOf(base).chain.position];
    const ids = [base.id];
    for (let i = 0; i < 3; i++) {
      await query(db.url, `UPDATE t SET v = 'x${i}', updated_at = now() WHERE id = ${i + 1}`);
      const next = await differential(project, db);
      positions.push(metadataOf(next).chain.position);
      ids.push(next.id);
      if (i === 2) {
        expect(next.stderr).toMatch(/taking a full export that starts a new chain: the chain of \S*export_\S+ already has 2 differentials \(export\.differential\.maxChain is 2\)/);
        expect(metadataOf(next).chain.reason).toMatch(/maxChain/);
        expect(rowsOf(next, 'data/public.t.csv')).toHaveLength(10);
      }
    }
    expect(positions).toEqual([0, 1, 2, 0]);
    await query(db.url, "UPDATE t SET v = 'most', updated_at = now() WHERE id <= 6");
    const big = await differential(project, db);
    expect(metadataOf(big).chain.position).toBe(0);
    expect(big.stderr).toMatch(/6 changed rows are more than 50% of the 10 rows of the chain's full export/);
    const fresh = await differential(project, db, ['--new-chain']);
    expect(metadataOf(fresh).chain).toMatchObject({ position: 0, reason: '--new-chain was given' });

    // a differential alone is not an import; a chain missing a link is refused, naming it
    const alone = await cli('db-import', [ids[2]!, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(alone.code).toBe(24);
    expect(alone.stderr).toMatch(new RegExp(`Import its chain: pnpm db:import -- ${ids[0]} --until ${ids[2]}`));
    renameSync(path.join(project, 'backups/default', ids[1]!), path.join(project, 'elsewhere'));
    const broken = await cli('db-import', [ids[0]!, '--until', ids[2]!, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(broken.code).toBe(24);
    expect(broken.stderr).toMatch(/differential 1 \(following \S*export_\S+\) is missing/);
    expect(await query(db.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 10 }]);
  });

  it('retention keeps every export a kept differential follows, so the chain still restores', async () => {
    const db = await createDatabase({ sql: `${TABLE('t')} INSERT INTO t (id, v) SELECT g, 'v' FROM generate_series(1, 20) g;` });
    const project = makeProject();
    const ids = [(await differential(project, db)).id];
    for (let i = 1; i <= 2; i++) {
      await query(db.url, `UPDATE t SET v = 'x${i}', updated_at = now() WHERE id = ${i}`);
      ids.push((await differential(project, db)).id);
    }
    const pruned = await cli('retention', ['--keep-type', 'export=1', '--daily', '0', '--weekly', '0', '--monthly', '0', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(pruned.code, pruned.stderr).toBe(0);
    const decisions = pruned.json<{ decisions: Array<{ id: string; keep: boolean; reasons: string[] }> }>().decisions;
    expect(decisions.filter((d) => ids.includes(d.id)).map((d) => [d.id, d.keep])).toEqual(expect.arrayContaining(ids.map((id) => [id, true])));
    expect(decisions.find((d) => d.id === ids[0])!.reasons.join()).toMatch(new RegExp(`^needed by (${ids[1]}|${ids[2]}) \\(its differential chain\\)$`));
    const restored = await importChain(project, ids[0]!, 'latest');
    expect(await fingerprint(restored.url)).toEqual(await fingerprint(db.url));
  });

  it('a chain restores tables with a GENERATED ALWAYS identity column and a generated column', async () => {
    const db = await createDatabase({
      sql: `CREATE TABLE t (id int PRIMARY KEY, seq bigint GENERATED ALWAYS AS IDENTITY, v text, doubled text GENERATED ALWAYS AS (v || v) STORED, updated_at timestamptz NOT NULL DEFAULT now());
            INSERT INTO t (id, v) SELECT g, 'v' || g FROM generate_series(1, 5) g;`,
    });
    const project = makeProject();
    const base = await differential(project, db);
    await query(db.url, "UPDATE t SET v = 'changed', updated_at = now() WHERE id = 2; INSERT INTO t (id, v) VALUES (6, 'new'); DELETE FROM t WHERE id = 4");
    const next = await differential(project, db);
    expect(rowsOf(next, 'data/public.t.csv')).toHaveLength(2);
    const restored = await importChain(project, base.id, next.id);
    expect(await fingerprint(restored.url)).toEqual(await fingerprint(db.url));
    expect(await query(restored.url, 'SELECT id, seq::int, doubled FROM t ORDER BY id')).toEqual(await query(db.url, 'SELECT id, seq::int, doubled FROM t ORDER BY id'));
  });

  it('bug 4 and deletes: five differentials of inserts, updates, deletes and a straddling transaction restore to each point', async () => {
    const db = await createDatabase({
      sql: `CREATE TABLE parent (id serial PRIMARY KEY, name text UNIQUE, updated_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE child (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, parent_id int REFERENCES parent ON DELETE CASCADE, note text, updated_at timestamptz NOT NULL DEFAULT now());
            CREATE TABLE tagged (k text, n int, label text, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (k, n));
            CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
            CREATE TRIGGER child_touch BEFORE UPDATE ON child FOR EACH ROW EXECUTE FUNCTION touch();
            INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 20) g;
            INSERT INTO child (parent_id, note) SELECT 1 + g % 20, 'c' || g FROM generate_series(1, 60) g;
            INSERT INTO tagged (k, n, label) VALUES ('a', 1, 'x'), ('a,b', 1, 'x'), ('q"uote', 2, 'x'), (E'new\\nline', 3, 'x'), ('é', 1, 'x'), ('Z', 10, 'x'), ('Z', 9, 'x');`,
    });
    const project = makeProject();
    const base = await differential(project, db);
    const points: Array<{ id: string | undefined; print: Awaited<ReturnType<typeof fingerprint>> }> = [{ id: undefined, print: await fingerprint(db.url) }];
    const steps = [
      "INSERT INTO parent (name) VALUES ('p21'); UPDATE child SET note = 'edited' WHERE id <= 5; DELETE FROM tagged WHERE k = 'a,b'",
      // a deleted row's unique name taken by a new one in the same differential
      "DELETE FROM parent WHERE id = 3; INSERT INTO parent (name) VALUES ('p3'); INSERT INTO tagged (k, n, label) VALUES ('a,b', 1, 'back'), ('ü', 0, 'y')",
      "UPDATE parent SET name = 'renamed', updated_at = now() WHERE id = 7; DELETE FROM child WHERE id % 7 = 0",
      "INSERT INTO child (parent_id, note) SELECT 2, 'batch' || g FROM generate_series(1, 15) g; UPDATE tagged SET label = 'y', updated_at = now() WHERE k = 'Z'",
      "DELETE FROM parent WHERE id IN (10, 11); UPDATE child SET note = 'last' WHERE parent_id = 5; DELETE FROM tagged WHERE k LIKE 'new%'",
    ];
    let straddling: { commit(): Promise<void> } | undefined;
    for (const [i, sql] of steps.entries()) {
      await query(db.url, sql);
      // before the third differential a transaction begins; it commits after it, its row stamped earlier
      if (i === 2) straddling = await openTransaction(db.url, "UPDATE parent SET name = 'straddled', updated_at = now() WHERE id = 12");
      const diff = await differential(project, db, i === 1 ? ['--zip'] : []);
      expect(diff.chain).toMatchObject({ base: base.id, position: i + 1 });
      points.push({ id: diff.id, print: await fingerprint(db.url) });
      if (i === 2) await straddling!.commit();
    }
    expect(points.at(-1)!.print.tables['public.parent']).not.toEqual(points[0]!.print.tables['public.parent']);
    for (const point of points) {
      const restored = await importChain(project, base.id, point.id);
      expect(await fingerprint(restored.url), point.id ?? base.id).toEqual(point.print);
    }
    // each export of the chain is a catalog entry: its key lists and deleted keys verified with it
    for (const id of [points[2]!.id!, points[5]!.id!]) {
      const verified = await cli('verify', [id], { cwd: project, env: { DATABASE_URL: db.url } });
      expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    }
    const last = path.join(project, 'backups/default', points[5]!.id!, 'keys/public.parent.csv');
    writeFileSync(last, readFileSync(last, 'utf8').replace('\n2\n', '\n3\n'));
    expect((await cli('verify', [points[5]!.id!], { cwd: project, env: { DATABASE_URL: db.url } })).code).toBe(12);
  });

  it('issue 20.3: a chain with a link missing, edited or damaged is refused with CHAIN_BROKEN, never imported short', async () => {
    const db = await createDatabase({ sql: `${TABLE('t')} INSERT INTO t (id, v) SELECT g, 'v' FROM generate_series(1, 10) g;` });
    const project = makeProject();
    const dir = path.join(project, 'backups/default');
    const base = await differential(project, db);
    const ids: string[] = [];
    for (let i = 1; i <= 3; i++) {
      await query(db.url, `UPDATE t SET v = 'd${i}', updated_at = now() WHERE id = ${i}; INSERT INTO t (id, v) VALUES (${100 + i}, 'new')`);
      ids.push((await differential(project, db, i === 3 ? ['--zip'] : [])).id);
    }
    const [d1, d2, d3] = ids as [string, string, string];
    const target = await createDatabase({ sql: "CREATE TABLE marker (v text); INSERT INTO marker VALUES ('untouched')" });
    const importUntil = (until: string) => cli('db-import', [base.id, '--until', until, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    const refused = async (until: string, named: RegExp) => {
      const run = await importUntil(until);
      expect(run.code, run.stderr).toBe(24);
      expect(run.stderr).toMatch(named);
      expect(await query(target.url, 'SELECT v FROM marker')).toEqual([{ v: 'untouched' }]);
    };
    const saved = path.join(project, 'saved');
    cpSync(dir, saved, { recursive: true });
    const putBack = () => {
      rmSync(dir, { recursive: true });
      cpSync(saved, dir, { recursive: true });
    };

    // D1 removed whole (export, .info, .sha256): D2 and D3 are still there, so latest is out of reach
    for (const name of [d1, `${d1}.info`, `${d1}.sha256`]) rmSync(path.join(dir, name), { recursive: true });
    await refused('latest', new RegExp(`differential 1 \\(following ${base.id}\\) is missing[^]*${d2} is differential 2, following ${d1}, which is not in`));
    await refused(d3, new RegExp(`${d2} is differential 2, following ${d1}`));
    putBack();

    // D2's position edited: its .sha256 (and .info) no longer vouch for its metadata.json
    const d2Meta = path.join(dir, d2, 'metadata.json');
    writeFileSync(d2Meta, readFileSync(d2Meta, 'utf8').replace('"position": 2', '"position": 1'));
    await refused('latest', new RegExp(`${d2} cannot be believed: ${d2}/metadata.json differs from what its .sha256 records`));
    // ... and with the .sha256 rewritten to match, the .info's own record still refuses it
    const sum = createHash('sha256').update(readFileSync(d2Meta)).digest('hex');
    const manifest = path.join(dir, `${d2}.sha256`);
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(new RegExp(`^[0-9a-f]{64}(  ${d2}/metadata.json)$`, 'm'), `${sum}$1`));
    await refused('latest', new RegExp(`${d2} cannot be believed: ${d2}/metadata.json differs from what its .info records`));
    putBack();

    // D1's metadata.json cut short, and D3's zip with one byte flipped
    const d1Meta = path.join(dir, d1, 'metadata.json');
    writeFileSync(d1Meta, readFileSync(d1Meta).subarray(0, 100));
    await refused(d2, new RegExp(`${d1} cannot be believed`));
    putBack();
    const zip = path.join(dir, `${d3}.zip`);
    const bytes = readFileSync(zip);
    const middle = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
    writeFileSync(zip, bytes);
    await refused('latest', new RegExp(`${d3} cannot be believed: (${d3}.zip differs from what its .sha256 records|its metadata.json cannot be read)`));
    expect((await importUntil(d2)).code).toBe(0);
    putBack();

    // whole again: the chain restores to the source
    const restored = await importChain(project, base.id, 'latest');
    expect(await fingerprint(restored.url)).toEqual(await fingerprint(db.url));
  }, 300_000);
});
