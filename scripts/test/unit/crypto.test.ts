import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { KitError } from '../../lib/errors.js';
import { encryptionFor, identityFor, isRecipient, parseRecipientList, readIdentityFile, writeNewIdentity } from '../../lib/crypto/keys.js';
import { decryptToPrivateFile, encryptStage, trialDecrypt } from '../../lib/crypto/stream.js';
import { classifyDecryptFailure } from '../../lib/proc/age.js';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';

const dir = () => mkdtempSync(path.join(tmpdir(), 'pgkit-crypto-'));
const env = { PATH: process.env.PATH };

async function newKey(): Promise<{ file: string; recipient: string }> {
  const written = await writeNewIdentity(path.join(dir(), 'key.txt'), new Date());
  return { file: written.path, recipient: written.recipient };
}

async function encryptTo(recipients: string[], data: Buffer, file: string): Promise<void> {
  await pipeline(Readable.from([data]), encryptStage(recipients, env), createWriteStream(file));
}

function codeOf(fn: () => unknown): Promise<string | undefined> {
  return Promise.resolve()
    .then(fn)
    .then(
      () => undefined,
      (error: unknown) => (error instanceof KitError ? error.code : String(error)),
    );
}

describe('recipients', () => {
  const KEY = 'age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc';

  it('accepts X25519 public keys only, checksum included', async () => {
    expect(await isRecipient(KEY)).toBe(true);
    expect(await isRecipient(KEY.replace(/c$/, 'd'))).toBe(false);
    expect(await isRecipient('AGE-SECRET-KEY-1QQQ')).toBe(false);
    expect(await isRecipient('ssh-ed25519 AAAA')).toBe(false);
  });

  it('reads lists as age -R does', async () => {
    expect(parseRecipientList(`# team\n${KEY}  # alice\n\n${KEY}, other\n`)).toEqual([KEY, KEY, 'other']);
  });

  it.each([
    [{ AGE_RECIPIENTS: KEY }, {}, 'AGE_RECIPIENTS'],
    [{}, { encryption: { recipients: [KEY] } }, 'backup-kit.json encryption'],
    [{}, { encryption: { recipients: ['x'] }, environments: { prod: { encryption: { recipients: [KEY] } } } }, 'backup-kit.json environments.prod.encryption'],
  ])('environment %j with config %j encrypts (source %s)', async (processEnv, config, source) => {
    expect(await encryptionFor(config, 'prod', processEnv, dir())).toEqual({ recipients: [KEY], source });
  });

  it('is off when nothing is configured, or switched off for one environment', async () => {
    expect(await encryptionFor({}, 'dev', {}, dir())).toBeUndefined();
    expect(await encryptionFor({ encryption: { recipients: [KEY] }, environments: { dev: { encryption: { recipients: [] } } } }, 'dev', {}, dir())).toBeUndefined();
  });

  it('fails closed on a configured source that yields no usable key', async () => {
    const root = dir();
    writeFileSync(path.join(root, 'empty.txt'), '# nobody\n');
    expect(await codeOf(() => encryptionFor({}, 'x', { AGE_RECIPIENTS: 'age1nope' }, root))).toBe('BAD_RECIPIENT');
    expect(await codeOf(() => encryptionFor({}, 'x', { AGE_RECIPIENTS_FILE: 'empty.txt' }, root))).toBe('BAD_RECIPIENT');
    expect(await codeOf(() => encryptionFor({}, 'x', { AGE_RECIPIENTS_FILE: 'missing.txt' }, root))).toBe('BAD_RECIPIENT');
    expect(await codeOf(() => encryptionFor({ encryption: { recipientsFile: 'missing.txt' } }, 'x', {}, root))).toBe('BAD_RECIPIENT');
  });
});

describe('identities', () => {
  it('keygen writes a 0600 file age reads, and never overwrites it', async () => {
    const key = await newKey();
    expect(statSync(key.file).mode & 0o777).toBe(0o600);
    expect(execFileSync('age-keygen', ['-y', key.file]).toString().trim()).toBe(key.recipient);
    expect(await codeOf(() => writeNewIdentity(key.file, new Date()))).toBe('KEY_EXISTS');
  });

  it('names a missing, unreadable or wrong identity before reading any backup', async () => {
    const key = await newKey();
    const other = await newKey();
    const junk = path.join(dir(), 'junk.txt');
    writeFileSync(junk, 'not a key\n');
    expect(await codeOf(() => identityFor(undefined, [key.recipient], 'x'))).toBe('IDENTITY_MISSING');
    expect(await codeOf(() => identityFor(junk, [key.recipient], 'x'))).toBe('IDENTITY_UNREADABLE');
    expect(await codeOf(() => identityFor(path.join(dir(), 'none'), [key.recipient], 'x'))).toBe('IDENTITY_UNREADABLE');
    expect(await codeOf(() => identityFor(other.file, [key.recipient], 'x'))).toBe('IDENTITY_MISMATCH');
    expect((await identityFor(key.file, [other.recipient, key.recipient], 'x')).recipients).toEqual([key.recipient]);
  });

  it.each([
    ['age: error: no identity matched any of the recipients', 'IDENTITY_MISMATCH'],
    ['age: error: failed to decrypt and authenticate payload chunk', 'DECRYPTION_FAILED'],
    ['age: error: failed to read header: parsing age header: unexpected intro: "hello"', 'DECRYPTION_FAILED'],
    ['age: error: reading "k.txt": failed to read "k.txt": error at line 1: unknown identity type', 'IDENTITY_UNREADABLE'],
  ])('classifies %s', (stderr, code) => {
    expect(classifyDecryptFailure(stderr, 'exited with status 1', 'x').code).toBe(code);
  });
});

describe('streams through the age program', () => {
  const data = randomBytes(300_000);
  const sha = createHash('sha256').update(data).digest('hex');

  it('round-trips with Debian\'s age both ways, to several recipients', async () => {
    const [a, b] = [await newKey(), await newKey()];
    const work = dir();
    await encryptTo([a.recipient, b.recipient], data, path.join(work, 'x.age'));
    expect(readFileSync(path.join(work, 'x.age')).includes(data.subarray(0, 64))).toBe(false);
    for (const key of [a, b]) expect(createHash('sha256').update(execFileSync('age', ['-d', '-i', key.file, path.join(work, 'x.age')])).digest('hex')).toBe(sha);
    writeFileSync(path.join(work, 'plain'), data);
    execFileSync('age', ['-r', a.recipient, '-o', path.join(work, 'y.age'), path.join(work, 'plain')]);
    const out = await decryptToPrivateFile(path.join(work, 'y.age'), await readIdentityFile(a.file), { name: 'y', what: 'y.age', env, expected: { sha256: sha, bytes: data.length } });
    expect(readFileSync(out.path).equals(data)).toBe(true);
    expect(statSync(out.path).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(out.path)).mode & 0o777).toBe(0o700);
    await out.dispose();
    expect(existsSync(path.dirname(out.path))).toBe(false);
  });

  it('a flipped byte late in the file: an error, and no plaintext file left anywhere', async () => {
    const key = await newKey();
    const work = dir();
    const file = path.join(work, 'x.age');
    await encryptTo([key.recipient], data, file);
    const bytes = readFileSync(file);
    bytes[bytes.length - 100] = bytes[bytes.length - 100]! ^ 0x01;
    writeFileSync(file, bytes);
    const tmpRoot = dir();
    const identity = await readIdentityFile(key.file);
    expect(await codeOf(() => decryptToPrivateFile(file, identity, { name: 'x', what: 'x.age', env, tmpRoot }))).toBe('DECRYPTION_FAILED');
    expect(readdirSync(tmpRoot)).toEqual([]);
    expect(await codeOf(() => trialDecrypt(file, identity, 'x.age', env))).toBe('DECRYPTION_FAILED');
  });

  it('refuses plaintext that does not match what .info recorded', async () => {
    const key = await newKey();
    const file = path.join(dir(), 'x.age');
    await encryptTo([key.recipient], data, file);
    const tmpRoot = dir();
    expect(await codeOf(async () => decryptToPrivateFile(file, await readIdentityFile(key.file), { name: 'x', what: 'x.age', env, tmpRoot, expected: { sha256: '0'.repeat(64), bytes: data.length } }))).toBe('INTEGRITY_FAILED');
    expect(readdirSync(tmpRoot)).toEqual([]);
  });

  it('fails closed when the age program cannot run', async () => {
    expect(await codeOf(() => encryptStage(['age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc'], { PATH: '/nonexistent' }))).toBe('ENCRYPTION_UNAVAILABLE');
    expect(await codeOf(() => encryptStage(['age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc'], { AGE_BIN: '/nonexistent/age' }))).toBe('ENCRYPTION_UNAVAILABLE');
  });
});
