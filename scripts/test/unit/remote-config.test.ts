import { mkdtempSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRemoteSettings, parseRemoteUrl, resolveCredentials, resolveRemote } from '../../lib/config/remote.js';
import { classifyS3Error, remoteError } from '../../lib/store/drivers/s3/client.js';
import { choosePartSize, MAX_PARTS } from '../../lib/store/drivers/s3/upload.js';
import { redact } from '../../lib/redact.js';

const MIB = 1024 * 1024;

function project(config?: unknown, files: Record<string, string> = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-rc-'));
  mkdirSync(path.join(root, 'packages/database'), { recursive: true });
  if (config !== undefined) writeFileSync(path.join(root, 'backup-kit.json'), JSON.stringify(config));
  for (const [f, c] of Object.entries(files)) writeFileSync(path.join(root, f), c);
  return root;
}

describe('remote URLs', () => {
  it.each([
    ['s3://bucket', { scheme: 's3', bucket: 'bucket', prefix: '' }],
    ['s3://my.bucket-1/team/db/', { scheme: 's3', bucket: 'my.bucket-1', prefix: 'team/db/' }],
    ['s3://b1x/a//b', { scheme: 's3', bucket: 'b1x', prefix: 'a//b/' }],
    ['memory://tests/team', { scheme: 'memory', bucket: 'tests', prefix: 'team/' }],
    ['memory://../x', undefined],
    ['gcs://bucket/x', undefined],
    ['file:///mnt/backups/', { scheme: 'file', bucket: '', prefix: 'mnt/backups/' }],
    ['file://host/mnt/backups', undefined],
    ['file:///', undefined],
    ['s3://Bucket/x', undefined],
    ['https://bucket/x', undefined],
    ['s3://bucket/../x', undefined],
    ['s3://ab', undefined],
  ])('%s', (url, expected) => {
    expect(parseRemoteUrl(url)).toEqual(expected);
  });
});

describe('remote settings', () => {
  it('names every problem, and any credential, at once', () => {
    const problems = checkRemoteSettings({ url: 'ftp://x', endpoint: 'not a url', secretAccessKey: 'x', accessKeyId: 'y', partSizeMiB: 2, colour: 1 }, 'remote');
    expect(problems.join('\n')).toMatch(/remote\.url/);
    expect(problems.join('\n')).toMatch(/remote\.endpoint/);
    expect(problems.join('\n')).toMatch(/remote\.secretAccessKey looks like a credential/);
    expect(problems.join('\n')).toMatch(/remote\.accessKeyId looks like a credential/);
    expect(problems.join('\n')).toMatch(/partSizeMiB/);
    expect(problems.join('\n')).toMatch(/remote\.colour is not a remote setting/);
  });

  it('bounds the deadlines: zero (wait forever to the SDK), fractions and days are refused, each named', () => {
    const problems = checkRemoteSettings({ url: 's3://b-b/x', connectTimeoutSeconds: 0, requestTimeoutSeconds: 1.5, attempts: 11 }, 'remote').join('\n');
    expect(problems).toMatch(/remote\.connectTimeoutSeconds must be a whole number from 1 to 3600/);
    expect(problems).toMatch(/remote\.requestTimeoutSeconds must be a whole number from 1 to 3600/);
    expect(problems).toMatch(/remote\.attempts must be a whole number from 1 to 10/);
    expect(checkRemoteSettings({ url: 's3://b-b/x', connectTimeoutSeconds: 5, requestTimeoutSeconds: 3600, attempts: 1 }, 'remote')).toEqual([]);
  });

  it('gives every remote deadlines by default, and takes the configured ones', () => {
    const defaults = resolveRemote({ root: project({ remote: { url: 's3://shared/all' } }), env: 'dev', processEnv: {} })!;
    expect(defaults).toMatchObject({ connectTimeoutMs: 10_000, requestTimeoutMs: 60_000, attempts: 3 });
    const own = resolveRemote({ root: project({ remote: { url: 's3://shared/all', connectTimeoutSeconds: 2, requestTimeoutSeconds: 5, attempts: 1 } }), env: 'dev', processEnv: {} })!;
    expect(own).toMatchObject({ connectTimeoutMs: 2000, requestTimeoutMs: 5000, attempts: 1 });
  });

  it('takes a per-environment remote over the shared one, with its own prefix per environment', () => {
    const root = project({ remote: { url: 's3://shared/all' }, environments: { prod: { remote: { url: 's3://prod-bucket/pg', endpoint: 'https://s3.example.com', region: 'eu-central-1' } } } });
    const prod = resolveRemote({ root, env: 'prod', processEnv: {} })!;
    expect(prod).toMatchObject({ bucket: 'prod-bucket', prefix: 'pg/prod/', endpoint: 'https://s3.example.com', region: 'eu-central-1', forcePathStyle: true });
    const dev = resolveRemote({ root, env: 'dev', processEnv: {} })!;
    expect(dev).toMatchObject({ bucket: 'shared', prefix: 'all/dev/', forcePathStyle: false });
    expect(resolveRemote({ root: project(), env: 'dev', processEnv: {} })).toBeUndefined();
  });

  it('lets --remote and --endpoint override the file', () => {
    const root = project({ remote: { url: 's3://shared/all' } });
    expect(resolveRemote({ root, env: 'default', processEnv: {}, remote: 's3://other/x', endpoint: 'http://127.0.0.1:9000' })).toMatchObject({ bucket: 'other', prefix: 'x/default/', endpoint: 'http://127.0.0.1:9000' });
  });

  it('refuses a remote whose settings hold a secret, with REMOTE_CONFIG (exit 3)', () => {
    const root = project({ environments: { prod: { remote: { url: 's3://b-b/x', accessKeyId: 'AKIA' } } } });
    expect(() => resolveRemote({ root, env: 'prod', processEnv: {} })).toThrow(expect.objectContaining({ code: 'REMOTE_CONFIG', exitCode: 3 }));
  });
});

describe('credentials', () => {
  it('come from the process environment first, then the environment file, taken whole', () => {
    const root = project(undefined, { 'packages/database/.env.prod': 'AWS_ACCESS_KEY=filekey\nAWS_SECRET_KEY=file-secret-value\nAWS_REGION=eu-west-3\n' });
    const fromFile = resolveRemote({ root, env: 'prod', processEnv: {}, remote: 's3://b-b/x' })!;
    expect(fromFile.credentials).toEqual({ accessKeyId: 'filekey', secretAccessKey: 'file-secret-value' });
    expect(fromFile.credentialSource).toBe('packages/database/.env.prod');
    expect(fromFile.region).toBe('eu-west-3');
    const fromEnv = resolveRemote({ root, env: 'prod', processEnv: { AWS_ACCESS_KEY_ID: 'envkey', AWS_SECRET_ACCESS_KEY: 'env-secret-value', AWS_SESSION_TOKEN: 'session-token-value' }, remote: 's3://b-b/x' })!;
    expect(fromEnv.credentials).toEqual({ accessKeyId: 'envkey', secretAccessKey: 'env-secret-value', sessionToken: 'session-token-value' });
    // Secrets found are masked wherever the kit prints.
    expect(redact('x env-secret-value session-token-value file-secret-value')).toBe('x *** *** ***');
  });

  it('refuse half a key pair and name the missing half', () => {
    expect(() => resolveCredentials([{ name: 'the process environment', vars: { AWS_ACCESS_KEY_ID: 'k' } }])).toThrow(/AWS_SECRET_ACCESS_KEY/);
  });

  it('fall back to AWS_PROFILE', () => {
    expect(resolveCredentials([{ name: 'env', vars: { AWS_PROFILE: 'backup' } }])).toMatchObject({ credentials: undefined, profile: 'backup' });
  });
});

describe('S3 failures in the kit\'s words', () => {
  const remote = resolveRemote({ root: project(), env: 'prod', processEnv: { AWS_ACCESS_KEY_ID: 'k', AWS_SECRET_ACCESS_KEY: 'some-secret-1' }, remote: 's3://bkt/pg', endpoint: 'https://s3.example.com' })!;
  it.each([
    [{ name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }, 'REMOTE_CREDENTIALS', /credentials came from the process environment/],
    [{ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } }, 'REMOTE_CREDENTIALS', /key id and secret belong together/],
    [{ name: 'RequestTimeTooSkewed', $metadata: { httpStatusCode: 403 } }, 'REMOTE_CLOCK_SKEW', /clock/],
    [{ name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }, 'REMOTE_BUCKET_MISSING', /bucket "bkt" does not exist/],
    [{ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }, 'REMOTE_DENIED', /Access denied to s3:\/\/bkt\/pg\/prod\/x\.dump/],
    [{ name: 'Error', code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND s3.example.com' }, 'REMOTE_UNREACHABLE', /does not resolve/],
    [{ name: 'Error', code: 'ECONNREFUSED' }, 'REMOTE_UNREACHABLE', /stopped answering/],
    [{ name: 'InternalError', $metadata: { httpStatusCode: 500 } }, 'REMOTE_FAILED', /Run again/],
    [{ name: 'TimeoutError', message: 'Socket timed out without establishing a connection within 10000 ms', $metadata: { attempts: 3 } }, 'REMOTE_UNREACHABLE', /at https:\/\/s3\.example\.com did not accept a connection within 10 s while uploading x\.dump \(3 tries\).*connectTimeoutSeconds/],
    [{ name: 'TimeoutError', message: 'the request socket timed out after 60000 ms of inactivity', $metadata: { attempts: 3 } }, 'REMOTE_UNREACHABLE', /went silent for 60 s in the middle of a request while uploading x\.dump \(3 tries\).*requestTimeoutSeconds/],
  ])('%o → %s', (error, code, message) => {
    const kit = remoteError(error, remote, 'uploading x.dump', 'pg/prod/x.dump');
    expect(kit.code).toBe(code);
    expect(kit.exitCode).toBe(code === 'REMOTE_CONFIG' ? 3 : 20);
    expect(kit.message).toMatch(message);
    expect(kit.message).not.toContain('some-secret-1');
  });

  it('tells a missing object from a failure', () => {
    expect(classifyS3Error({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe('not-found');
    expect(classifyS3Error({ name: 'MethodNotAllowed', $metadata: { httpStatusCode: 405 } })).toBe('not-implemented');
  });

  it('takes a request ended by the run\'s signal for an interruption, never a failure to retry', () => {
    const aborted = new DOMException('This operation was aborted', 'AbortError');
    expect(classifyS3Error(aborted)).toBe('aborted');
    expect(remoteError(aborted, remote, 'listing backups')).toMatchObject({ code: 'INTERRUPTED', message: 'Interrupted while listing backups.' });
  });
});

describe('part size', () => {
  it.each([
    [8 * MIB, 0, 8 * MIB],
    [8 * MIB, 1024 * MIB, 8 * MIB],
    [5 * MIB, 100 * 1024 * MIB, 32 * MIB],
    [8 * MIB, 5 * 1024 * 1024 * MIB, 1589 * MIB],
  ])('minimum %d, estimate %d → %d', (minimum, estimate, expected) => {
    const size = choosePartSize(minimum, estimate);
    expect(size).toBe(expected);
    expect(size % MIB).toBe(0);
    expect(Math.ceil((3 * estimate) / size)).toBeLessThan(MAX_PARTS);
  });
});
