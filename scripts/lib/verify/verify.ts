/**
 * Proof that a backup restores, in tiers, reported per artifact:
 *  - quick: every artifact exists with the recorded size and sha256; .sql ends with pg_dump's
 *    trailer; .sql.gz decompresses completely; .dump/.tar table of contents reads;
 *  - deep: one artifact is restored into a scratch database, and every table's row count and
 *    content fingerprint, and every sequence, is compared with what .info recorded (or, for a
 *    backup that recorded none, with what the archive itself holds). The scratch database is
 *    dropped whatever happens.
 * The outcome is written next to the backup as <id>.verify.json; .info is never rewritten.
 */
import { checkExportFiles } from '../export/source.js';
import { readExportMetadata } from '../format/export-metadata.js';
import { KitError } from '../errors.js';
import type { Target } from '../config/target.js';
import { engineForTarget, engineOf } from '../engines/registry.js';
import type { Engine, ScratchOutcome } from '../engines/engine.js';
import { recordedStatistics } from '../engines/statistics.js';
import { sha256File } from '../store/files.js';
import type { BackupStore, LocalCopy, StoredBackup } from '../store/store.js';
import type { Reporter } from '../context.js';
import type { ArtifactInfo } from '../format/metadata.js';
import type { Format } from '../format/naming.js';
import { VERIFICATION_SCHEMA, type ArtifactCheck, type Verification } from '../store/verification.js';

export type { ArtifactCheck, Verification } from '../store/verification.js';
import { readFile } from 'node:fs/promises';
import { identityFor, type DecryptionRequest } from '../crypto/keys.js';
import { decryptToPrivateFile, type DecryptedFile } from '../crypto/stream.js';

/** The plaintext to check: the stored file itself, or its decryption into a private file. */
async function plaintextOf(file: string, entry: StoredBackup, artifact: ArtifactInfo, decryption: DecryptionRequest): Promise<DecryptedFile | undefined> {
  if (!artifact.plain) return undefined;
  const identity = await identityFor(decryption.identity, entry.info.encryption?.recipients ?? [], artifact.file);
  return decryptToPrivateFile(file, identity, {
    name: artifact.file.replace(/\.age$/, ''),
    what: artifact.file,
    env: decryption.env,
    expected: artifact.plain,
    ...(decryption.signal ? { signal: decryption.signal } : {}),
  });
}

/** Errors that are about the identity, not the backup: they stop the command (exit 21). */
const IDENTITY_ERRORS = new Set(['IDENTITY_MISSING', 'IDENTITY_UNREADABLE', 'IDENTITY_MISMATCH', 'ENCRYPTION_UNAVAILABLE']);

async function quickCheck(engine: Engine, store: BackupStore, entry: StoredBackup, artifact: ArtifactInfo, serverMajor: number, env: NodeJS.ProcessEnv, decryption: DecryptionRequest): Promise<ArtifactCheck> {
  const result: ArtifactCheck = { file: artifact.file, format: artifact.format, ok: false, checks: [] };
  if (!entry.files.includes(artifact.file)) return { ...result, problem: `${artifact.file} is missing` };
  let copy: LocalCopy | undefined;
  let decrypted: DecryptedFile | undefined;
  try {
    copy = await store.localFile(entry, artifact.file);
    const { sha256, bytes } = await sha256File(copy.path);
    if (bytes !== artifact.bytes) return { ...result, problem: `${artifact.file} has ${bytes} bytes, .info recorded ${artifact.bytes} (truncated or changed)` };
    if (sha256 !== artifact.sha256) return { ...result, problem: `${artifact.file}'s sha256 is ${sha256.slice(0, 12)}…, .info recorded ${artifact.sha256.slice(0, 12)}… (damaged or changed)` };
    result.checks.push('size and sha256 match .info');
    if (artifact.plain && decryption.identity === undefined) {
      result.checks.push('encrypted with age: contents not checked (no identity; give --identity or AGE_IDENTITY_FILE to decrypt)');
      return { ...result, ok: true };
    }
    decrypted = await plaintextOf(copy.path, entry, artifact, decryption);
    if (decrypted) result.checks.push('decrypts and authenticates with age to the end; the plaintext matches .info');
    const file = decrypted?.path ?? copy.path;
    if (artifact.format === 'globals') {
      const roles = engine.checkRolesScript(await readFile(file, 'utf8'));
      if (roles.problem) return { ...result, problem: `${artifact.file} ${roles.problem}` };
      result.checks.push(`roles script reads (${roles.accounts} roles)`);
    } else if (artifact.format === 'zip') {
      result.checks.push(`every file inside matches its metadata.json (${await checkExportFiles(file)} files)`);
    } else if (artifact.format === 'export-file') {
      // A directory export's file: its sha256 above is the proof; metadata.json must also read.
      if (artifact.file === `${entry.id}/metadata.json` && !readExportMetadata(await readFile(file, 'utf8'))) {
        return { ...result, problem: `${artifact.file} is not an export's metadata.json` };
      }
    } else {
      const read = await engine.readBack(artifact.file, artifact.format, file, serverMajor, env);
      result.checks.push(...read.checks);
      if (read.problem) return { ...result, problem: read.problem };
    }
    return { ...result, ok: true };
  } catch (error) {
    if (error instanceof KitError && IDENTITY_ERRORS.has(error.code)) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { ...result, problem: `${artifact.file} is missing` };
    return { ...result, problem: error instanceof KitError ? error.message.replace(/ Nothing was changed\.$/, '') : String(error) };
  } finally {
    await decrypted?.dispose();
    await copy?.release();
  }
}

const PREFERRED: Format[] = ['dump', 'tar', 'sql.gz', 'sql'];

export interface VerifyOptions {
  deep: boolean;
  artifact: Format | undefined;
  /** The age identity file (--identity or AGE_IDENTITY_FILE), for encrypted backups. */
  identity?: string | undefined;
}

/**
 * Verify one backup. `target` is where a scratch database may be created (the environment's
 * server, or VERIFY_DATABASE_URL's); it is needed only for --deep.
 */
export async function verifyBackup(store: BackupStore, entry: StoredBackup, options: VerifyOptions, scratchServer: Target | undefined, env: NodeJS.ProcessEnv, reporter: Reporter, signal: AbortSignal, now: Date): Promise<Verification> {
  const info = entry.info;
  const engine = engineOf(info);
  const identity = options.identity ?? (env.AGE_IDENTITY_FILE || undefined);
  let serverMajor = Number(/^(\d+)/.exec(info.pgDump.version)?.[1] ?? 15);
  if (scratchServer && engineForTarget(scratchServer).name !== engine.name) {
    throw new KitError('UNSUPPORTED_MODE', `Backup ${entry.id} is a ${engine.label} backup, and the server --deep would restore it on (${scratchServer.host}:${scratchServer.port}) is ${engineForTarget(scratchServer).label}: it can only be restored on a server of its own engine. Set VERIFY_DATABASE_URL to one, or verify without --deep. Nothing was changed.`);
  }
  if (scratchServer) {
    const client = await engine.connect(scratchServer);
    try {
      serverMajor = (await engine.serverFacts(client)).major;
    } finally {
      await client.end();
    }
  }
  const artifacts: ArtifactCheck[] = [];
  for (const artifact of info.artifacts) {
    reporter.progress({ phase: `checking ${artifact.file}`, bytes: 0 });
    artifacts.push(await quickCheck(engine, store, entry, artifact, serverMajor, env, { identity, env, signal }));
  }
  const record: Verification = {
    schema: VERIFICATION_SCHEMA,
    version: 1,
    id: entry.id,
    at: now.toISOString(),
    level: options.deep ? 'deep' : 'quick',
    ok: artifacts.every((a) => a.ok),
    artifacts,
    ...(artifacts.every((a) => a.ok) ? {} : { failure: 'INTEGRITY_FAILED' as const }),
  };
  // An export has no restore to try: its quick check already proved every file of it.
  if (options.deep && record.ok && scratchServer && info.artifacts.some((a) => a.format !== 'zip' && a.format !== 'export-file')) {
    const format = options.artifact ?? PREFERRED.find((f) => info.artifacts.some((a) => a.format === f))!;
    const artifact = info.artifacts.find((a) => a.format === format);
    if (!artifact) throw new KitError('BACKUP_NOT_FOUND', `Backup ${entry.id} has no ${format} artifact to restore (it has ${info.artifacts.map((a) => a.format).join(', ')}).`);
    record.deep = await deepCheck(engine, store, entry, artifact, scratchServer, serverMajor, env, reporter, signal, now, identity);
    if (record.deep.problems.length) {
      record.ok = false;
      record.failure = 'ROW_COUNT_MISMATCH';
    }
  }
  await keepRecord(store, entry, record, reporter);
  return record;
}

/**
 * Keep the outcome beside the backup. A read-only or full backup directory does not change the
 * outcome (it is reported all the same); a backup deleted meanwhile (by db:retention) is said so.
 */
async function keepRecord(store: BackupStore, entry: StoredBackup, record: Verification, reporter: Reporter): Promise<void> {
  try {
    await store.writeVerification(entry, record);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'ENOSPC' || code === 'EDQUOT') {
      reporter.notice(`warning: could not record the verification of ${entry.id} in ${store.where} (${code}); the outcome below stands`);
      return;
    }
    throw error;
  }
}

async function deepCheck(engine: Engine, store: BackupStore, entry: StoredBackup, artifact: ArtifactInfo, server: Target, serverMajor: number, env: NodeJS.ProcessEnv, reporter: Reporter, signal: AbortSignal, now: Date, identity: string | undefined): Promise<NonNullable<Verification['deep']>> {
  const copy = await store.localFile(entry, artifact.file);
  let decrypted: DecryptedFile | undefined;
  try {
    // An encrypted artifact is restored from its authenticated plaintext, never from a stream.
    if (artifact.plain) reporter.progress({ phase: `decrypting ${artifact.file}`, bytes: 0 });
    decrypted = await plaintextOf(copy.path, entry, artifact, { identity, env, signal });
    const plain = decrypted ? { ...artifact, file: artifact.file.replace(/\.age$/, ''), bytes: decrypted.bytes, sha256: decrypted.sha256 } : artifact;
    const outcome = await engine.restoreIntoScratch({ server, id: entry.id, info: entry.info, artifact: plain, file: decrypted?.path ?? copy.path, serverMajor, env, reporter, signal, now });
    return deepResult(engine, entry, plain, server, outcome);
  } finally {
    await decrypted?.dispose();
    await copy.release();
  }
}

/** What the scratch copy proved: against .info's statistics when the backup recorded them. */
function deepResult(engine: Engine, entry: StoredBackup, artifact: ArtifactInfo, server: Target, outcome: ScratchOutcome): NonNullable<Verification['deep']> {
  const where = `${server.host}:${server.port}`;
  if (!outcome.restored) return { artifact: artifact.file, server: where, tables: 0, rows: 0, sequences: 0, problems: [outcome.problem] };
  const actual = outcome.stats;
  // Without recorded statistics, what is proved is that every row the archive carries loaded.
  const expected = recordedStatistics(entry.info) ?? actual;
  const problems = engine.compareStatistics(expected, actual);
  const rows = Object.values(actual.tables).reduce((n, t) => n + t.rows, 0);
  return { artifact: artifact.file, server: where, tables: Object.keys(actual.tables).length, rows, sequences: Object.keys(actual.sequences).length, problems };
}
