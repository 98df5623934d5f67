/**
 * age keys as the kit handles them: recipients (public keys, `age1…`) that backups are encrypted
 * to, and identity files (`AGE-SECRET-KEY-1…`) that decrypt them. The backup host needs only
 * recipients; an identity is read only to learn its public key, and is otherwise named to the
 * age program by its path.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { KitError } from '../errors.js';
import type { KitConfig } from '../config/file.js';

/** Where the recipients of an environment's backups were configured, and which they are. */
export interface EncryptionSettings {
  recipients: string[];
  /** AGE_RECIPIENTS, AGE_RECIPIENTS_FILE (path), or backup-kit.json (which key). */
  source: string;
}

/**
 * Only X25519 recipients: every age implementation reads them (Debian's age 1.1 knows no
 * post-quantum or plugin keys), so any backup can be opened with the tools of any machine.
 */
const X25519_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;

/** The age library, loaded only by the commands that handle keys (it costs every start ~80 ms of CPU). */
const ageLibrary = () => import('age-encryption');

export async function isRecipient(text: string): Promise<boolean> {
  if (!X25519_RECIPIENT.test(text)) return false;
  const { Encrypter } = await ageLibrary();
  try {
    new Encrypter().addRecipient(text); // checks the bech32 checksum and the key length
    return true;
  } catch {
    return false;
  }
}

/** A recipients file, as age -R reads it: one key per line, `#` comments, blank lines. Pure. */
export function parseRecipientList(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .flatMap((line) => line.split(/\s+/))
    .filter(Boolean);
}

async function checked(recipients: string[], source: string): Promise<EncryptionSettings | undefined> {
  const bad: string[] = [];
  for (const r of recipients) if (!(await isRecipient(r))) bad.push(r);
  if (bad.length) {
    const shown = bad.map((r) => (r.startsWith('AGE-SECRET-KEY-') ? '(a secret key!)' : JSON.stringify(r.length > 24 ? `${r.slice(0, 20)}…` : r)));
    throw new KitError('BAD_RECIPIENT', `${source} holds ${bad.length === 1 ? 'something that is not an age public key' : `${bad.length} entries that are not age public keys`}: ${shown.join(', ')}. Recipients are X25519 public keys (age1…, 62 characters), as printed by pnpm db:keygen or age-keygen -y. No backup was written.`);
  }
  return recipients.length ? { recipients: [...new Set(recipients)], source } : undefined;
}

function readRecipientsFile(file: string, source: string): string[] {
  if (!existsSync(file)) {
    throw new KitError('BAD_RECIPIENT', `${source} names ${file}, which does not exist. Fix the path, or remove the setting to stop encrypting. No backup was written.`);
  }
  return parseRecipientList(readFileSync(file, 'utf8'));
}

/**
 * The recipients for an environment's backups, or undefined when its backups are not encrypted.
 * AGE_RECIPIENTS > AGE_RECIPIENTS_FILE > backup-kit.json environments.<env>.encryption >
 * backup-kit.json encryption. A configured source that yields no valid key is an error, never a
 * silent fall back to plaintext.
 */
export async function encryptionFor(config: KitConfig, env: string, processEnv: NodeJS.ProcessEnv, root: string): Promise<EncryptionSettings | undefined> {
  if (processEnv.AGE_RECIPIENTS !== undefined && processEnv.AGE_RECIPIENTS.trim() !== '') {
    return (await checked(parseRecipientList(processEnv.AGE_RECIPIENTS), 'AGE_RECIPIENTS')) ?? emptyError('AGE_RECIPIENTS');
  }
  if (processEnv.AGE_RECIPIENTS_FILE) {
    const file = path.resolve(root, processEnv.AGE_RECIPIENTS_FILE);
    return (await checked(readRecipientsFile(file, 'AGE_RECIPIENTS_FILE'), `AGE_RECIPIENTS_FILE (${file})`)) ?? emptyError(`AGE_RECIPIENTS_FILE (${file})`);
  }
  const own = config.environments?.[env]?.encryption;
  const settings = own ?? config.encryption;
  if (!settings) return undefined;
  const where = own ? `backup-kit.json environments.${env}.encryption` : 'backup-kit.json encryption';
  const list = [...(settings.recipients ?? [])];
  if (settings.recipientsFile) list.push(...readRecipientsFile(path.resolve(root, settings.recipientsFile), `${where}.recipientsFile`));
  // An environment may switch encryption off explicitly with "encryption": { "recipients": [] }.
  if (own && list.length === 0 && !settings.recipientsFile) return undefined;
  return (await checked(list, where)) ?? emptyError(where);
}

function emptyError(source: string): never {
  throw new KitError('BAD_RECIPIENT', `${source} is set but holds no age public key. Add the keys (age1…), or unset it to stop encrypting. No backup was written.`);
}

/** An identity file as the kit reads it: its path, and the public key of each secret key in it. */
export interface IdentityFile {
  path: string;
  recipients: string[];
}

/** What decrypting a stored artifact needs: restore and verify both ask for it. */
export interface DecryptionRequest {
  /** The identity file (--identity or AGE_IDENTITY_FILE), if one was given. */
  identity: string | undefined;
  env: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** --identity > AGE_IDENTITY_FILE. Returns undefined when neither is given. */
export function identityPath(flag: string | undefined, processEnv: NodeJS.ProcessEnv, root: string): string | undefined {
  const given = flag ?? (processEnv.AGE_IDENTITY_FILE || undefined);
  return given === undefined ? undefined : path.resolve(root, given);
}

export async function readIdentityFile(file: string): Promise<IdentityFile> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new KitError('IDENTITY_UNREADABLE', `Cannot read the identity file ${file} (${code}). Point AGE_IDENTITY_FILE or --identity at the file pnpm db:keygen wrote. Nothing was changed.`);
  }
  const keys = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('AGE-SECRET-KEY-1'));
  const recipients: string[] = [];
  for (const key of keys) {
    try {
      recipients.push(await (await ageLibrary()).identityToRecipient(key));
    } catch {
      throw new KitError('IDENTITY_UNREADABLE', `The identity file ${file} holds a malformed secret key. Use the file pnpm db:keygen (or age-keygen) wrote, unchanged. Nothing was changed.`);
    }
  }
  if (recipients.length === 0) {
    throw new KitError('IDENTITY_UNREADABLE', `${file} holds no age secret key (a line starting AGE-SECRET-KEY-1). Point AGE_IDENTITY_FILE or --identity at the file pnpm db:keygen wrote. Nothing was changed.`);
  }
  return { path: file, recipients };
}

/**
 * The identity to decrypt a backup encrypted to `recipients`, checked before anything is read:
 * missing, or not one of the keys the backup was encrypted to, is a clear error up front.
 */
export async function identityFor(file: string | undefined, recipients: string[], what: string): Promise<IdentityFile> {
  if (file === undefined) {
    throw new KitError('IDENTITY_MISSING', `${what} is encrypted with age. Give the identity (secret key) file with --identity <file> or AGE_IDENTITY_FILE=<file>; it must hold the key for ${recipients.length ? recipients.join(' or ') : 'one of its recipients'}. Nothing was changed.`);
  }
  const identity = await readIdentityFile(file);
  if (recipients.length && !identity.recipients.some((r) => recipients.includes(r))) {
    throw new KitError('IDENTITY_MISMATCH', `The identity in ${file} (public key ${identity.recipients.join(', ')}) cannot decrypt ${what}: it was encrypted to ${recipients.join(', ')}. Use the identity file for one of those keys. Nothing was changed.`);
  }
  return identity;
}

/** A new X25519 identity in age-keygen's file format, and its public key. */
export async function generateIdentityFile(now: Date): Promise<{ text: string; recipient: string }> {
  const { generateX25519Identity, identityToRecipient } = await ageLibrary();
  const secret = await generateX25519Identity();
  const recipient = await identityToRecipient(secret);
  const text = `# created: ${now.toISOString()}\n# public key: ${recipient}\n${secret}\n`;
  return { text, recipient };
}

/** Where db:keygen writes by default: outside the repository, so it is never committed. */
export function defaultIdentityPath(processEnv: NodeJS.ProcessEnv): string {
  const config = processEnv.XDG_CONFIG_HOME || path.join(processEnv.HOME || '.', '.config');
  return path.join(config, 'pg-backup-kit', 'age-identity.txt');
}

/** Write a new identity file (mode 0600, its directory 0700); never overwrites one. */
export async function writeNewIdentity(file: string, now: Date): Promise<{ path: string; recipient: string }> {
  const { mkdir, open, chmod } = await import('node:fs/promises');
  if (existsSync(file)) {
    throw new KitError('KEY_EXISTS', `${file} already exists; the kit never overwrites an identity (every backup encrypted to it would be lost). Choose another file with --output <file>.`);
  }
  const dir = path.dirname(file);
  if (!existsSync(dir)) await mkdir(dir, { recursive: true, mode: 0o700 });
  const { text, recipient } = await generateIdentityFile(now);
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new KitError('KEY_EXISTS', `${file} already exists; the kit never overwrites an identity. Choose another file with --output <file>.`);
    throw new KitError('IDENTITY_UNREADABLE', `Cannot write ${file} (${code ?? 'error'}). Choose another place with --output <file>.`);
  }
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(file, 0o600);
  return { path: file, recipient };
}
