import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fingerprint, takeBackup } from '../support/backups.js';
import { backupDir, cli, cluster, createDatabase, libpqEnv, makeProject, readInfo, startCli } from '../support/harness.js';

const AGE_HEADER = 'age-encryption.org/v1\n';

function newKey(dir: string): { file: string; recipient: string } {
  const file = path.join(dir, `key-${randomBytes(3).toString('hex')}.txt`);
  execFileSync('age-keygen', ['-o', file], { stdio: 'ignore' });
  return { file, recipient: execFileSync('age-keygen', ['-y', file]).toString().trim() };
}

function walk(dir: string): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

/** Plaintext that must never be on disk: the marker, and what each artifact's plaintext starts with. */
function plaintextIn(file: string, marker: string): string | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined; // renamed or removed while we looked
  }
  if (bytes.includes(marker)) return `${file} holds the marker`;
  if (/\.(sql|dump|tar|gz)(\.partial)?$/.test(file)) {
    if (bytes.length > 0 && !bytes.subarray(0, Math.min(bytes.length, AGE_HEADER.length)).equals(Buffer.from(AGE_HEADER).subarray(0, Math.min(bytes.length, AGE_HEADER.length)))) {
      return `${file} does not start with the age header`;
    }
  }
  return undefined;
}

/** Run a backup (or another command) while scanning every file under `root` again and again, and once more at the end. */
async function backupWatched(project: string, env: NodeJS.ProcessEnv, marker: string, args: string[] = [], command = 'pg-backup') {
  const root = path.join(project, 'backups');
  const found = new Set<string>();
  let scans = 0;
  const { child, result } = startCli(command, ['--json', ...args], { cwd: project, env });
  let running = true;
  void result.then(() => (running = false));
  while (running) {
    for (const file of walk(root)) {
      const problem = plaintextIn(file, marker);
      if (problem) found.add(problem);
    }
    scans++;
    await new Promise((r) => setTimeout(r, 2));
  }
  const run = await result;
  for (const file of walk(root)) {
    const problem = plaintextIn(file, marker);
    if (problem) found.add(problem);
  }
  void child;
  return { run, found: [...found], scans };
}

/** A database whose data and roles carry a marker value, large enough to be seen mid-write. */
async function markedDatabase() {
  const marker = `MARKER${randomBytes(6).toString('hex')}`;
  const db = await createDatabase({
    sql: `CREATE TABLE secrets AS SELECT g AS id, '${marker}' || repeat('x', 200) AS v FROM generate_series(1, 40000) g;
          CREATE TABLE small (id int PRIMARY KEY); INSERT INTO small VALUES (1), (2), (3);`,
  });
  return { db, marker };
}

describe('encrypted backups', () => {
  it('never has a plaintext byte of any artifact on disk, and the scan would have seen one', async () => {
    const { db, marker } = await markedDatabase();
    const control = makeProject();
    const plain = await backupWatched(control, { DATABASE_URL: db.url }, marker, ['--env', 'secret', '--format', 'sql,tar']);
    expect(plain.run.code, plain.run.stderr).toBe(0);
    expect(plain.found.length, 'the scan finds plaintext in an unencrypted backup').toBeGreaterThan(0);

    const project = makeProject();
    const key = newKey(project);
    const watched = await backupWatched(project, { DATABASE_URL: db.url, AGE_RECIPIENTS: key.recipient }, marker, ['--env', 'secret']);
    expect(watched.run.code, watched.run.stderr).toBe(0);
    expect(watched.scans).toBeGreaterThan(3);
    expect(watched.found).toEqual([]);
    const result = watched.run.json<BackupResult>();
    const info = readInfo(project, result.id, 'secret');
    expect(info.encryption).toMatchObject({ method: 'age', recipients: [key.recipient] });
    expect(info.artifacts.map((a) => a.file).sort()).toEqual(['dump', 'globals.sql', 'sql', 'sql.gz', 'tar'].map((f) => `${result.id}.${f}.age`).sort());
    expect(JSON.stringify(info)).not.toContain('AGE-SECRET-KEY');
    for (const a of info.artifacts) {
      const stored = readFileSync(path.join(backupDir(project, 'secret'), a.file));
      // .info holds the sha256 of the file as stored, and Debian's age gives back exactly the plaintext it describes.
      expect(createHash('sha256').update(stored).digest('hex')).toBe(a.sha256);
      const plaintext = execFileSync('age', ['-d', '-i', key.file, path.join(backupDir(project, 'secret'), a.file)], { maxBuffer: 1 << 28 });
      expect(createHash('sha256').update(plaintext).digest('hex'), a.file).toBe(a.plain!.sha256);
      expect(plaintext.length).toBe(a.plain!.bytes);
    }
    // sha256sum -c checks the files as stored.
    execFileSync('sha256sum', ['-c', `${result.id}.sha256`], { cwd: backupDir(project, 'secret'), stdio: 'ignore' });
  });

  it('restores and deep-verifies with the identity; without it or with another, fails with 21 and touches nothing', async () => {
    const { db } = await markedDatabase();
    const project = makeProject();
    const key = newKey(project);
    const other = newKey(project);
    const backup = await takeBackup(project, db.url, ['--format', 'dump,sql.gz'], { AGE_RECIPIENTS: key.recipient });
    const expected = await fingerprint(db.url);
    const target = await createDatabase({ sql: 'CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (7)' });
    const before = await fingerprint(target.url);
    // Where the decrypted copies go while they are used: empty again after every command.
    const tmp = path.join(project, 'tmp');
    mkdirSync(tmp);

    const missing = await cli('pg-restore', [backup.id, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(missing.code).toBe(21);
    expect(missing.stderr).toMatch(/is encrypted with age\. Give the identity .* --identity <file> or AGE_IDENTITY_FILE=<file>/);
    const wrong = await cli('pg-restore', [backup.id, '--force', '--identity', other.file], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(wrong.code).toBe(21);
    expect(wrong.stderr).toMatch(/cannot decrypt/);
    expect(await fingerprint(target.url)).toEqual(before);
    expect(readdirSync(backupDir(project)).filter((f) => f.startsWith('backup_pre-restore'))).toEqual([]);

    for (const [format, how] of [['dump', { AGE_IDENTITY_FILE: key.file }], ['sql.gz', {}]] as const) {
      const file = path.join(backupDir(project), `${backup.id}.${format}.age`);
      const args = [file, '--force', ...(format === 'sql.gz' ? ['--identity', key.file] : [])];
      const run = await cli('pg-restore', args, { cwd: project, env: { DATABASE_URL: target.url, TMPDIR: tmp, ...how } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(await fingerprint(target.url)).toEqual(expected);
      expect(readdirSync(tmp)).toEqual([]);
    }

    const deepWithout = await cli('verify', [backup.id, '--deep'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(deepWithout.code).toBe(21);
    const deep = await cli('verify', [backup.id, '--deep', '--json'], { cwd: project, env: { DATABASE_URL: db.url, AGE_IDENTITY_FILE: key.file, TMPDIR: tmp } });
    expect(deep.code, deep.stderr).toBe(0);
    expect(JSON.stringify(deep.json())).toMatch(/decrypts and authenticates/);
    // Nothing decrypted is left behind: not in the temporary directory, not beside the backup.
    expect(readdirSync(tmp)).toEqual([]);
    expect(walk(backupDir(project)).filter((f) => path.basename(f).startsWith(backup.id) && !/\.(age|info|sha256|verify\.json)$/.test(f))).toEqual([]);
  });

  it('a flipped byte is caught before the target is touched: by the sha256, and by age without a .info', async () => {
    const { db } = await markedDatabase();
    const project = makeProject();
    const key = newKey(project);
    const backup = await takeBackup(project, db.url, ['--format', 'dump'], { AGE_RECIPIENTS: key.recipient });
    const file = path.join(backupDir(project), `${backup.id}.dump.age`);
    const bytes = readFileSync(file);
    bytes[bytes.length - 20] = bytes[bytes.length - 20]! ^ 0x40; // late: only the last chunk's tag can tell
    writeFileSync(file, bytes);
    const target = await createDatabase({ sql: 'CREATE TABLE keep_me (x int); INSERT INTO keep_me VALUES (7)' });
    const before = await fingerprint(target.url);

    const run = await cli('pg-restore', [backup.id, '--force', '--identity', key.file], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code).toBe(12);
    expect(run.stderr).toMatch(/does not match its \.info/);
    const quick = await cli('verify', [backup.id], { cwd: project, env: { DATABASE_URL: db.url, AGE_IDENTITY_FILE: key.file } });
    expect(quick.code).not.toBe(0);

    const alone = path.join(project, 'elsewhere');
    mkdirSync(alone);
    copyFileSync(file, path.join(alone, 'copy.dump.age'));
    const noInfo = await cli('pg-restore', [path.join(alone, 'copy.dump.age'), '--force', '--identity', key.file], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(noInfo.code).toBe(21);
    expect(noInfo.stderr).toMatch(/failed to decrypt .*damaged or incomplete/);
    expect(await fingerprint(target.url)).toEqual(before);
  });

  it('restores a dump that Debian\'s age encrypted, and fails closed when age cannot run', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 20)' });
    const project = makeProject();
    const key = newKey(project);
    const dump = path.join(project, 'by-hand.dump');
    execFileSync(path.join(cluster().binDir, 'pg_dump'), ['-Fc', '-f', dump], { env: libpqEnv(source.url) });
    execFileSync('age', ['-r', key.recipient, '-o', `${dump}.age`, dump]);
    const target = await createDatabase();
    const run = await cli('pg-restore', [`${dump}.age`, '--force', '--identity', key.file], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));

    const fresh = makeProject();
    const closed = await cli('pg-backup', [], { cwd: fresh, env: { DATABASE_URL: source.url, AGE_RECIPIENTS: key.recipient, AGE_BIN: '/nonexistent/age' } });
    expect(closed.code).toBe(21);
    expect(closed.stderr).toMatch(/must be encrypted .*AGE_BIN/);
    const bad = await cli('pg-backup', [], { cwd: fresh, env: { DATABASE_URL: source.url, AGE_RECIPIENTS: 'age1notakey' } });
    expect(bad.code).toBe(21);
    expect(bad.stderr).toMatch(/AGE_RECIPIENTS holds something that is not an age public key/);
    expect(walk(path.join(fresh, 'backups')).filter((f) => !f.endsWith('.log'))).toEqual([]);
  });

  it('a table export in an encrypted environment: the zip is encrypted like a backup, never a plaintext byte on disk; a plaintext directory is refused', async () => {
    const { db: source, marker } = await markedDatabase();
    const control = await backupWatched(makeProject(), { DATABASE_URL: source.url }, marker, ['--zip'], 'db-export');
    expect(control.run.code, control.run.stderr).toBe(0);
    expect(control.found.length, 'the scan finds the CSV an unencrypted zip export stages').toBeGreaterThan(0);
    const project = makeProject();
    const key = newKey(project);
    const env = { DATABASE_URL: source.url, AGE_RECIPIENTS: key.recipient };
    const refused = await cli('db-export', [], { cwd: project, env });
    expect(refused.code).toBe(16);
    expect(refused.stderr).toMatch(/would store its tables as plaintext CSV files\. Use --zip/);
    expect(readdirSync(backupDir(project)).filter((f) => f.startsWith('backup_'))).toEqual([]);
    const watched = await backupWatched(project, env, marker, ['--zip'], 'db-export');
    const run = watched.run;
    expect(run.code, run.stderr).toBe(0);
    expect(watched.scans).toBeGreaterThan(3);
    expect(watched.found).toEqual([]);
    const id = run.json<{ id: string }>().id;
    expect(readdirSync(backupDir(project)).filter((f) => f.startsWith('backup_')).sort()).toEqual([`${id}.info`, `${id}.sha256`, `${id}.zip.age`]);
    const zip = path.join(project, 'export.zip');
    execFileSync('age', ['-d', '-i', key.file, '-o', zip, path.join(backupDir(project), `${id}.zip.age`)]);
    const target = await createDatabase();
    const imported = await cli('db-import', [zip, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(imported.code, imported.stderr).toBe(0);
    expect(await fingerprint(target.url)).toEqual(await fingerprint(source.url));
  });
});
