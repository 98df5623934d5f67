/**
 * The age program (age-encryption.org), run as a child process: the kit's encryption engine.
 *
 * Chosen over the JavaScript implementation by measurement (README, "Encryption"): the Go
 * program encrypts and decrypts at about 1 GB/s on one core in its own process, while the
 * JavaScript library managed about 100 MB/s on the kit's own event loop, where it competes with
 * the dump fan-out; that alone would add well over 10% to a backup.
 *
 * Recipients are public keys, so they may appear in argv; identities are only ever named by
 * their file path, never passed as text.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { KitError } from '../errors.js';
import { ProcessFailure, startProcess } from './process.js';

/** AGE_BIN (a path to the program) > `age` on PATH. */
export function locateAge(env: NodeJS.ProcessEnv): string | undefined {
  if (env.AGE_BIN) return existsSync(env.AGE_BIN) ? env.AGE_BIN : undefined;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, 'age');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const INSTALL = 'Install it (Debian/Ubuntu: apt-get install age; macOS: brew install age) or set AGE_BIN to the program';

function requireAge(env: NodeJS.ProcessEnv, why: string): string {
  const found = locateAge(env);
  if (!found) {
    const where = env.AGE_BIN ? `AGE_BIN (${env.AGE_BIN}) does not exist` : 'the age program is not on PATH';
    throw new KitError('ENCRYPTION_UNAVAILABLE', `${why}, but ${where}. ${INSTALL}.`);
  }
  return found;
}

export interface AgeProcess {
  child: ChildProcess;
  /** Bytes to encrypt or decrypt go in here. */
  input: Writable;
  /** The result comes out here. */
  output: Readable;
  /** Resolves when age exits 0; rejects with a KitError quoting age's stderr otherwise. */
  done: Promise<void>;
}

function run(bin: string, args: string[], env: NodeJS.ProcessEnv, describe: (stderr: string, how: string) => KitError): AgeProcess {
  const running = startProcess(bin, args, {
    // age needs nothing from the environment; a minimal one keeps database secrets out of it.
    env: { PATH: env.PATH ?? '', LANG: 'C' },
    stdio: ['pipe', 'pipe', 'pipe'],
    name: 'age',
    missing: 'ENCRYPTION_UNAVAILABLE',
    failure: 'ENCRYPTION_UNAVAILABLE',
    explain: (stderr, failure) => describe(stderr, failure.how),
  });
  // A consumer that stops early makes writes fail with EPIPE; the exit status tells the story.
  running.child.stdin!.on('error', () => undefined);
  const done = running.done.catch((error: unknown) => {
    if (error instanceof ProcessFailure && error.reason === 'missing') {
      throw new KitError('ENCRYPTION_UNAVAILABLE', `${error.message}. ${INSTALL}.`, { cause: error.cause });
    }
    throw error;
  });
  done.catch(() => undefined);
  return { child: running.child, input: running.child.stdin!, output: running.child.stdout!, done };
}

/** `age -r R1 -r R2 …`: plaintext in, ciphertext out, to every recipient. */
export function spawnEncrypt(recipients: string[], env: NodeJS.ProcessEnv): AgeProcess {
  if (recipients.length === 0) throw new KitError('INTERNAL', 'spawnEncrypt needs at least one recipient');
  const bin = requireAge(env, 'Backups of this environment must be encrypted (recipients are configured)');
  return run(bin, recipients.flatMap((r) => ['-r', r]), env, (stderr, how) =>
    new KitError('ENCRYPTION_UNAVAILABLE', `age ${how} while encrypting${stderr ? `: ${lastLine(stderr)}` : ''}. Nothing unencrypted was kept.`, { detail: stderr }),
  );
}

/** `age -d -i <identity file>`: ciphertext in, plaintext out, authenticated chunk by chunk. */
export function spawnDecrypt(identityFile: string, env: NodeJS.ProcessEnv, what: string): AgeProcess {
  const bin = requireAge(env, `${what} is encrypted`);
  return run(bin, ['-d', '-i', identityFile], env, (stderr, how) => classifyDecryptFailure(stderr, how, what));
}

function lastLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('[') && !/report unexpected or unhelpful errors/i.test(l)).at(-1) ?? text.trim();
}

/** age's words for the ways decryption fails, in the kit's vocabulary. Pure, for tests. */
export function classifyDecryptFailure(stderr: string, how: string, what: string): KitError {
  const said = lastLine(stderr);
  if (/no identity matched/i.test(stderr)) {
    return new KitError('IDENTITY_MISMATCH', `The identity cannot decrypt ${what}: it was encrypted to other keys. Use the identity file whose public key is listed in the backup's .info (encryption.recipients), via AGE_IDENTITY_FILE or --identity. Nothing was changed.`, { detail: stderr });
  }
  if (/error: reading "|no secret keys|malformed secret key|unknown identity type/i.test(stderr)) {
    return new KitError('IDENTITY_UNREADABLE', `age could not use the identity file: ${said}. Point AGE_IDENTITY_FILE or --identity at the file pnpm db:keygen wrote (AGE-SECRET-KEY-1…). Nothing was changed.`, { detail: stderr });
  }
  if (/header|unexpected intro|unexpected EOF|failed to decrypt|authenticat|truncated|premature/i.test(stderr)) {
    return new KitError('DECRYPTION_FAILED', `${what} failed to decrypt (${said}): the encrypted file is damaged or incomplete. Nothing was changed; use another backup.`, { detail: stderr });
  }
  return new KitError('DECRYPTION_FAILED', `age ${how} while decrypting ${what}${said ? `: ${said}` : ''}. Nothing was changed.`, { detail: stderr });
}
