/**
 * An encrypted artifact on its way to a restore or a deep verify: its stored bytes are checked
 * against .info first (a flipped byte is found before anything else happens), the identity is
 * checked against the backup's recipients, and the artifact is decrypted into a private file
 * that exists under its usable name only once age authenticated all of it and the plaintext's
 * sha256 matched .info. Only then does anything read it; the target is never fed a stream.
 */
import path from 'node:path';
import { KitError } from '../errors.js';
import type { ArtifactInfo, BackupInfo } from '../format/metadata.js';
import { identityFor, type DecryptionRequest } from '../crypto/keys.js';
import { AGE_SUFFIX, decryptToPrivateFile, looksEncrypted } from '../crypto/stream.js';
import { sha256File } from '../store/files.js';

export type { DecryptionRequest } from '../crypto/keys.js';

interface SourceLike {
  file: string;
  info: BackupInfo | undefined;
  artifact: ArtifactInfo | undefined;
  /** The stored bytes were proven against `artifact` as they were downloaded. */
  proven?: boolean;
  release(): Promise<void>;
}

/** Is this artifact (or, without .info, this file) age-encrypted? */
export async function isEncrypted(file: string, artifact: ArtifactInfo | undefined): Promise<boolean> {
  if (artifact) return artifact.plain !== undefined;
  return looksEncrypted(file);
}

/** The stored file must be exactly what .info recorded, before it is decrypted. */
export async function checkStored(file: string, artifact: ArtifactInfo): Promise<void> {
  const actual = await sha256File(file);
  if (actual.bytes !== artifact.bytes || actual.sha256 !== artifact.sha256) {
    throw new KitError('INTEGRITY_FAILED', `${path.basename(file)} does not match its .info: recorded ${artifact.bytes} bytes with sha256 ${artifact.sha256.slice(0, 12)}…, found ${actual.bytes} bytes with ${actual.sha256.slice(0, 12)}…. The file was damaged or changed after the backup; restore another artifact of the same backup. Nothing was changed.`);
  }
}

/**
 * The source with its file replaced by the decrypted plaintext (and its artifact describing that
 * plaintext), or the source unchanged when it is not encrypted. release() removes the plaintext.
 */
export async function decryptSource<S extends SourceLike>(source: S, request: DecryptionRequest): Promise<S> {
  if (!(await isEncrypted(source.file, source.artifact))) return source;
  const name = path.basename(source.file);
  if (source.artifact && !source.proven) await checkStored(source.file, source.artifact);
  const identity = await identityFor(request.identity, source.info?.encryption?.recipients ?? [], name);
  const plainName = name.endsWith(AGE_SUFFIX) ? name.slice(0, -AGE_SUFFIX.length) : `${name}.decrypted`;
  const decrypted = await decryptToPrivateFile(source.file, identity, {
    name: plainName,
    what: name,
    env: request.env,
    ...(request.signal ? { signal: request.signal } : {}),
    ...(source.artifact?.plain ? { expected: source.artifact.plain } : {}),
  });
  const artifact = source.artifact ? { ...source.artifact, file: plainName, bytes: decrypted.bytes, sha256: decrypted.sha256 } : undefined;
  return {
    ...source,
    file: decrypted.path,
    artifact,
    // The plaintext was hashed as it was written, and that is what its artifact now records.
    proven: artifact !== undefined,
    release: async () => {
      await decrypted.dispose();
      await source.release();
    },
  };
}
