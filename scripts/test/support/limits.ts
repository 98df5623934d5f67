/**
 * Shared steps of the tests at PostgreSQL's limits: one backup in every format the kit writes,
 * each artifact restored by the kit into a fresh database and compared with the source, and deep
 * verification of a plain and an archive artifact.
 */
import { expect } from 'vitest';
import type { BackupResult } from '../../lib/backup/backup.js';
import { fileOf, fingerprint } from './backups.js';
import { cli, createDatabase, makeProject, query, urlFor, type TestDatabase } from './harness.js';

/** Every artifact format `db:backup` writes (it has no directory format). */
export const FORMATS = ['sql', 'sql.gz', 'dump', 'tar'] as const;
export type Format = (typeof FORMATS)[number];

/**
 * Deep verification reads a plain script with the kit's own lexer either way: straight from the
 * .sql (as from the .sql.gz), or from pg_restore's output for the .dump (as for the .tar). One of
 * each keeps both paths covered at half the cost of all four.
 */
const DEEP_VERIFIED: readonly Format[] = ['sql', 'dump'];

/** PostgreSQL's limit on an identifier: NAMEDATALEN - 1 bytes. */
export const NAME_BYTES = 63;

/** `start` padded with `fill` to exactly 63 bytes of UTF-8 (fill may be multi-byte). */
export function name63(start: string, fill = 'x'): string {
  let name = start;
  while (Buffer.byteLength(name + fill) <= NAME_BYTES) name += fill;
  while (Buffer.byteLength(name) < NAME_BYTES) name += 'x';
  if (Buffer.byteLength(name) !== NAME_BYTES) throw new Error(`name63: cannot pad ${start} to ${NAME_BYTES} bytes`);
  return name;
}

/** A double-quoted SQL identifier. */
export function ident(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export async function dropDatabase(db: TestDatabase): Promise<void> {
  await query(urlFor('postgres'), `DROP DATABASE IF EXISTS ${ident(db.name)} WITH (FORCE)`);
}

/** `pnpm db:backup -- --json` of the source, in all four formats unless told; its exit code and stderr are the first thing checked. */
export async function backupAll(project: string, source: TestDatabase, formats: readonly Format[] = FORMATS): Promise<BackupResult> {
  const only = formats === FORMATS ? [] : ['--format', formats.join(',')];
  const run = await cli('pg-backup', ['--json', ...only], { cwd: project, env: { DATABASE_URL: source.url } });
  expect(run.code, `db:backup exited ${run.code}: ${run.stderr}`).toBe(0);
  expect(run.stderr).toBe('');
  const backup = run.json<BackupResult>();
  expect(backup.files.map((f) => f.format).filter((f) => f !== 'globals')).toEqual([...formats]);
  return backup;
}

/**
 * The whole story for one database: back it up in every format, restore each artifact with the
 * kit into a fresh database (which must then equal the source: schema, rows, sequences, owners and
 * privileges), and deep-verify a plain and an archive artifact (unless told which). Each failure
 * names the case and the format.
 */
export async function roundTrip(label: string, source: TestDatabase, options: { formats?: readonly Format[]; deepVerify?: readonly Format[] } = {}): Promise<BackupResult> {
  const { formats = FORMATS, deepVerify = DEEP_VERIFIED } = options;
  const project = makeProject();
  const backup = await backupAll(project, source, formats);
  const expected = await fingerprint(source.url);
  for (const format of formats) {
    const copy = await createDatabase();
    const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: copy.url } });
    expect(run.code, `${label}: db:restore of the ${format} exited ${run.code}: ${run.stdout}${run.stderr}`).toBe(0);
    expect(await fingerprint(copy.url), `${label}: restored from the ${format}`).toEqual(expected);
    await dropDatabase(copy);
    if (!deepVerify.includes(format)) continue;
    const verify = await cli('verify', [backup.id, '--deep', '--artifact', format], { cwd: project, env: { DATABASE_URL: source.url } });
    expect(verify.code, `${label}: db:verify --deep --artifact ${format} exited ${verify.code}: ${verify.stdout}${verify.stderr}`).toBe(0);
  }
  return backup;
}

/**
 * Drop cluster-wide roles a test made, with whatever they still own or hold in any database (a
 * failed run can leave restored copies behind), so the next run starts from a clean cluster.
 */
export async function dropRoles(roles: string[]): Promise<void> {
  const admin = urlFor('postgres');
  const holding = await query<{ datname: string }>(
    admin,
    `SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = ANY($1)`,
    [roles],
  );
  const list = roles.map(ident).join(', ');
  for (const { datname } of holding) await query(urlFor(datname), `DROP OWNED BY ${list}`);
  await query(admin, `DROP ROLE IF EXISTS ${list}`);
}
