import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync, mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprint } from '../support/backups.js';
import { cli, cluster, createDatabase, holdLock, libpqEnv, makeProject, pidsOf, query, startCli, waitFor, type TestDatabase } from '../support/harness.js';
import type { ExportMetadata } from '../../lib/format/export-metadata.js';
import type { ExportResult } from '../../lib/export/export.js';

async function exportOf(project: string, db: TestDatabase, args: string[] = []): Promise<ExportResult> {
  const run = await cli('db-export', ['--json', ...args], { cwd: project, env: { DATABASE_URL: db.url } });
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return run.json<ExportResult>();
}

function metadataOf(dir: string): ExportMetadata {
  return JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as ExportMetadata;
}

/** Python's csv module reads the file: rows and the field count of each. */
function parseWithPython(file: string): { rows: number; widths: number[] } {
  const script = 'import csv,json,sys\ncsv.field_size_limit(sys.maxsize)\nrows=list(csv.reader(open(sys.argv[1],newline="",encoding="utf-8")))\nprint(json.dumps({"rows":len(rows)-1,"widths":sorted(set(len(r) for r in rows))}))';
  return JSON.parse(execFileSync('python3', ['-c', script, file], { encoding: 'utf8' })) as { rows: number; widths: number[] };
}

describe('db:export and db:import', () => {
  it('exports the awkward database and imports it back identical, from a directory and from a zip', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const dirExport = await exportOf(project, source, ['--jobs', '3']);
    const zipExport = await exportOf(project, source, ['--zip']);
    expect(zipExport.path.endsWith('.zip')).toBe(true);
    const expected = await fingerprint(source.url);
    for (const exported of [dirExport, zipExport]) {
      const target = await createDatabase({ sql: 'CREATE TABLE leftover (id int)' });
      const run = await cli('db-import', [exported.path, '--force', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, run.stderr).toBe(0);
      expect(await fingerprint(target.url)).toEqual(expected);
    }
  });

  it('writes CSV a standard parser reads, byte for byte what psql \\copy writes', async () => {
    const source = await createDatabase({ seed: 'awkward' });
    const project = makeProject();
    const exported = await exportOf(project, source);
    const meta = metadataOf(exported.path);
    expect(meta.tables.length).toBeGreaterThan(10);
    const scratch = mkdtempSync(path.join(tmpdir(), 'pgkit-copy-'));
    // psql with the settings the export documents (UTC, ISO dates, shortest exact floats, hex bytea)
    const env = { ...libpqEnv(source.url), PGOPTIONS: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres -c extra_float_digits=1 -c bytea_output=hex', PGCLIENTENCODING: 'UTF8' };
    for (const table of meta.tables) {
      const file = path.join(exported.path, table.file);
      const parsed = parseWithPython(file);
      expect(parsed.rows, table.name).toBe(table.rows);
      if (table.rows > 0) expect(parsed.widths, table.name).toEqual([table.columns.length]);
      const theirs = path.join(scratch, 'psql.csv');
      execFileSync(path.join(cluster().binDir, 'psql'), ['-X', '-q', '-c', `\\copy ${table.name} to '${theirs}' csv header`], { env });
      expect(readFileSync(file).equals(readFileSync(theirs)), table.name).toBe(true);
    }
    const sink = meta.tables.find((t) => t.name === 'app.kitchen_sink')!;
    const text = readFileSync(path.join(exported.path, sink.file), 'utf8');
    expect(text).toContain('NaN');
    expect(text).toContain('Infinity');
    expect(text).toContain('\\x00ff80fe0001000000');
  });

  it('copies a big table in ranges of its pages at once, into one file byte for byte what psql \\copy writes', async () => {
    const source = await createDatabase({
      sql: `CREATE TABLE big (id int, note text, twice int GENERATED ALWAYS AS (id * 2) STORED);
            INSERT INTO big (id, note) SELECT g, CASE WHEN g % 7 = 0 THEN NULL ELSE repeat('x', g % 50) || ',"' END FROM generate_series(1, 6000) g;
            DELETE FROM big WHERE id % 11 = 0;
            CREATE TABLE big_child (extra int) INHERITS (big);
            INSERT INTO big_child (id, note, extra) VALUES (-1, 'child row', 1);
            ANALYZE big;
            INSERT INTO big (id, note) SELECT g, 'after analyze' FROM generate_series(6001, 7000) g;`,
    });
    const project = makeProject();
    // ranges of two pages, so this small table is cut like a big one (and rows past relpages land in the last, open-ended range)
    const run = await cli('db-export', ['--json', '--jobs', '4'], { cwd: project, env: { DATABASE_URL: source.url, EXPORT_RANGE_BYTES: '16384' } });
    expect(run.code, run.stderr).toBe(0);
    const exported = run.json<ExportResult>();
    const big = metadataOf(exported.path).tables.find((t) => t.name === 'public.big')!;
    expect(big.ranges).toBe(4);
    expect(big.rows).toBe(6000 - 545 + 1000);
    const theirs = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-copy-')), 'big.csv');
    execFileSync(path.join(cluster().binDir, 'psql'), ['-X', '-q', '-c', `\\copy big to '${theirs}' csv header`], { env: { ...libpqEnv(source.url), PGOPTIONS: '-c TimeZone=UTC' } });
    expect(readFileSync(path.join(exported.path, big.file)).equals(readFileSync(theirs))).toBe(true);
    expect(existsSync(path.join(exported.path, `${big.file}.range-1`))).toBe(false);
    const target = await createDatabase();
    const imported = await cli('db-import', [exported.id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(imported.code, imported.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  });

  it('keeps NULL and the empty string apart', async () => {
    const source = await createDatabase({ sql: "CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, NULL), (2, ''), (3, '\"'), (4, E'\\\\.'), (5, E'a\\n\\\\.\\nb')" });
    const project = makeProject();
    const exported = await exportOf(project, source);
    expect(readFileSync(path.join(exported.path, 'data/public.t.csv'), 'utf8')).toBe('id,v\n1,\n2,""\n3,""""\n4,\\.\n5,"a\n\\.\nb"\n');
    const target = await createDatabase();
    const run = await cli('db-import', [exported.id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await query(target.url, 'SELECT id, v, v IS NULL AS null FROM t ORDER BY id')).toEqual([
      { id: 1, v: null, null: true },
      { id: 2, v: '', null: false },
      { id: 3, v: '"', null: false },
      { id: 4, v: '\\.', null: false },
      { id: 5, v: 'a\n\\.\nb', null: false },
    ]);
  });

  it('--table replaces one table\'s rows; other columns on the target are named and nothing changes', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (1, \'one\'), (2, \'two\'); CREATE TABLE b (id int); INSERT INTO b VALUES (7)' });
    const project = makeProject();
    const exported = await exportOf(project, source);
    const target = await createDatabase({ sql: 'CREATE TABLE a (id int PRIMARY KEY, v text); INSERT INTO a VALUES (9, \'nine\'); CREATE TABLE b (id int, extra text); INSERT INTO b VALUES (8, \'x\')' });
    const ok = await cli('db-import', [exported.path, '--table', 'a', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await query(target.url, 'SELECT id, v FROM a ORDER BY id')).toEqual([{ id: 1, v: 'one' }, { id: 2, v: 'two' }]);
    const refused = await cli('db-import', [exported.path, '--table', 'b', '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(refused.code).toBe(24);
    expect(refused.stderr).toMatch(/public\.b: the target has columns the export lacks: extra/);
    expect(await query(target.url, 'SELECT id, extra FROM b')).toEqual([{ id: 8, extra: 'x' }]);
  });

  it('a damaged file rolls the import back; without a terminal it needs --force', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 100)' });
    const project = makeProject();
    const exported = await exportOf(project, source);
    const target = await createDatabase({ sql: 'CREATE TABLE keep (id int); INSERT INTO keep VALUES (1)' });
    const before = await fingerprint(target.url);
    const asked = await cli('db-import', [exported.path], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(asked.code).toBe(13);
    expect(asked.stderr).toMatch(/Pass --force/);
    const csv = path.join(exported.path, 'data/public.t.csv');
    writeFileSync(csv, readFileSync(csv, 'utf8').replace('\n50\n', '\n51\n'));
    const damaged = await cli('db-import', [exported.path, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(damaged.code).toBe(24);
    expect(damaged.stderr).toMatch(/data\/public\.t\.csv .* is not the file the export wrote/);
    expect(await fingerprint(target.url)).toEqual(before);

    // a schema.sql that would run a shell command is refused even when metadata.json agrees with it
    const schemaFile = path.join(exported.path, 'schema.sql');
    const marker = path.join(project, 'shell-ran');
    const evil = `\\! touch ${marker}\n${readFileSync(schemaFile, 'utf8')}`;
    writeFileSync(schemaFile, evil);
    const meta = metadataOf(exported.path);
    meta.schemaFile = { ...meta.schemaFile, sha256: createHash('sha256').update(evil).digest('hex'), bytes: Buffer.byteLength(evil), preDataBytes: meta.schemaFile.preDataBytes + Buffer.byteLength(evil) - meta.schemaFile.bytes };
    writeFileSync(path.join(exported.path, 'metadata.json'), JSON.stringify(meta));
    const shell = await cli('db-import', [exported.path, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(shell.code).toBe(24);
    expect(shell.stderr).toMatch(/holds psql commands pg_dump never writes \(\\! touch/);
    expect(existsSync(marker)).toBe(false);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('a --zip export is a catalog entry: listed, verified file by file, kept apart by retention, never taken for --latest', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 500)' });
    const project = makeProject();
    const env = { DATABASE_URL: source.url };
    const backup = await cli('pg-backup', ['--format', 'dump', '--json'], { cwd: project, env });
    expect(backup.code, backup.stderr).toBe(0);
    const exported = await exportOf(project, source, ['--zip']);
    expect(exported.id).toMatch(/^backup_export_\d{8}_\d{6}$/);
    const listed = (await cli('list', ['--json'], { cwd: project, env })).json<{ backups: Array<{ id: string; type: string; formats: string[] }> }>();
    expect(listed.backups.find((b) => b.id === exported.id)).toMatchObject({ type: 'export', formats: ['zip'] });
    const verified = await cli('verify', [exported.id], { cwd: project, env });
    expect(verified.code, verified.stderr + verified.stdout).toBe(0);
    expect(verified.stdout).toMatch(/every file inside matches its metadata\.json \(2 files\)/);
    const plan = await cli('retention', ['--dry-run', '--json'], { cwd: project, env });
    expect(plan.code, plan.stderr).toBe(0);
    expect(JSON.stringify(plan.json())).toContain(exported.id);
    // the newest "backup" for a restore is the real one, not the export taken after it
    const target = await createDatabase();
    const restored = await cli('pg-restore', ['--latest', '--force', '--no-safety-backup', '--json'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.json<{ backup: { id: string } }>().backup.id).toBe(backup.json<{ id: string }>().id);
    // imported by its id, from the catalog
    const imported = await cli('db-import', [exported.id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(imported.code, imported.stderr).toBe(0);
    // a flipped byte in the zip fails verification
    const zip = exported.path;
    const bytes = readFileSync(zip);
    bytes[Math.floor(bytes.length / 3)]! ^= 0xff;
    writeFileSync(zip, bytes);
    const damaged = await cli('verify', [exported.id], { cwd: project, env });
    expect(damaged.code).toBe(12);
  });

  it('a directory export is a catalog entry too: listed, every file verified, checked by sha256sum, pruned by retention', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 500); CREATE TABLE u (v text); INSERT INTO u VALUES (\'x\')' });
    const project = makeProject();
    const env = { DATABASE_URL: source.url };
    const older = await exportOf(project, source);
    const newer = await exportOf(project, source);
    for (const e of [older, newer]) expect(e.id).toMatch(/^backup_export_\d{8}_\d{6}(_\d+)?$/);
    const dir = path.join(project, 'backups/default');
    expect(newer.path).toBe(path.join(dir, newer.id));
    expect(readdirSync(newer.path).sort()).toEqual(['data', 'metadata.json', 'schema.sql']);
    const info = JSON.parse(readFileSync(path.join(dir, `${newer.id}.info`), 'utf8')) as { type: string; artifacts: Array<{ file: string; format: string }> };
    expect(info.type).toBe('export');
    expect(info.artifacts.map((a) => a.file).sort()).toEqual([`${newer.id}/data/public.t.csv`, `${newer.id}/data/public.u.csv`, `${newer.id}/metadata.json`, `${newer.id}/schema.sql`]);
    // the standard tool checks every file without the kit
    expect(execFileSync('sha256sum', ['-c', `${newer.id}.sha256`], { cwd: dir, encoding: 'utf8' })).toMatch(/data\/public\.t\.csv: OK/);
    const listed = (await cli('list', ['--json'], { cwd: project, env })).json<{ backups: Array<{ id: string; type: string; formats: string[] }> }>();
    expect(listed.backups.map((b) => [b.id, b.type, b.formats])).toEqual([[newer.id, 'export', ['directory']], [older.id, 'export', ['directory']]]);
    const verified = await cli('verify', [newer.id], { cwd: project, env });
    expect(verified.code, verified.stderr + verified.stdout).toBe(0);
    expect(verified.stdout).toContain(`${newer.id}/data/public.t.csv`);
    const pruned = await cli('retention', ['--keep-type', 'export=1', '--daily', '0', '--weekly', '0', '--monthly', '0'], { cwd: project, env });
    expect(pruned.code, pruned.stderr).toBe(0);
    // (exports in the same second are <id> and <id>_2: match the older one's names exactly)
    expect(readdirSync(dir).filter((f) => f === older.id || f.startsWith(`${older.id}.`))).toEqual([]);
    expect(existsSync(newer.path)).toBe(true);
    // one changed byte in one CSV fails verification, naming the file
    const csv = path.join(newer.path, 'data/public.t.csv');
    writeFileSync(csv, readFileSync(csv, 'utf8').replace('\n250\n', '\n251\n'));
    const damaged = await cli('verify', [newer.id], { cwd: project, env });
    expect(damaged.code).toBe(12);
    expect(damaged.stdout + damaged.stderr).toContain(`${newer.id}/data/public.t.csv's sha256`);
  });

  it('--table and --exclude-table choose the tables, as docs/07-exports-and-differentials.md shows them', async () => {
    const source = await createDatabase({ sql: "CREATE SCHEMA app; CREATE TABLE app.orders (id int PRIMARY KEY); CREATE TABLE app.audit (id int); CREATE TABLE public.other (id int); INSERT INTO app.orders VALUES (1), (2); INSERT INTO app.audit VALUES (1)" });
    const exported = await exportOf(makeProject(), source, ['--table', 'app.*', '--exclude-table', 'app.audit', '--jobs', '8']);
    expect(readdirSync(path.join(exported.path, 'data'))).toEqual(['app.orders.csv']);
    expect(metadataOf(exported.path).tables.map((t) => [t.name, t.rows])).toEqual([['app.orders', 2]]);
  });

  it('a pattern that matches nothing, and an export stopped mid-way, leave nothing that looks complete', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); CREATE TABLE u (id int); INSERT INTO u VALUES (1)' });
    const project = makeProject();
    const bad = await cli('db-export', ['--table', 'nosuch'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(bad.code).toBe(11);
    expect(bad.stderr).toMatch(/No table matches "nosuch"/);
    const dir = path.join(project, 'backups/default');
    const exports = () => (existsSync(dir) ? readdirSync(dir).filter((f) => f.includes('export')) : []);
    expect(exports()).toEqual([]);

    // A lock held by the application makes the COPY of u wait: a real, slow export, then SIGTERM.
    const lock = await holdLock(source.url, 'u');
    try {
      for (const args of [[], ['--zip']]) {
        const run = startCli('db-export', args, { cwd: project, env: { DATABASE_URL: source.url } });
        await waitFor('the export\'s COPY to wait for the lock', () => (pidsOf('psql', source.name).length > 0 && exports().length > 0) || undefined);
        run.child.kill('SIGTERM');
        const result = await run.result;
        expect(result.code, result.stderr).toBe(130);
        expect(exports()).toEqual([]);
        expect(pidsOf('psql', source.name)).toEqual([]);
      }
      // SIGKILL leaves the work directory behind; nothing looks complete, and the next run removes it
      const killed = startCli('db-export', ['--zip'], { cwd: project, env: { DATABASE_URL: source.url } });
      await waitFor('the next export\'s COPY to wait for the lock', () => (exports().length > 0 && existsSync(path.join(dir, exports()[0]!, 'data'))) || undefined);
      killed.child.kill('SIGKILL');
      expect((await killed.result).signal).toBe('SIGKILL');
      const left = exports();
      expect(left).toEqual([expect.stringMatching(/^backup_export_\d{8}_\d{6}(_\d+)?\.partial$/)]);
      const listed = (await cli('list', ['--json'], { cwd: project, env: { DATABASE_URL: source.url } })).json<{ backups: unknown[] }>();
      expect(listed.backups).toEqual([]);
    } finally {
      await lock.release();
    }
    const next = await cli('db-export', ['--json'], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(next.code, next.stderr).toBe(0);
    expect(next.stderr).toMatch(/removed backup_export_\S+\.partial, left behind by an export that was stopped before it finished/);
    expect(exports()).toEqual([next.json<ExportResult>().id, `${next.json<ExportResult>().id}.info`, `${next.json<ExportResult>().id}.sha256`].sort());
  });
});
