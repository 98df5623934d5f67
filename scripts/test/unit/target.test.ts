import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, resolveTarget, targetFromUrl } from '../../lib/config/target.js';
import { KitError } from '../../lib/errors.js';
import { redact, redactUrl, registerSecret } from '../../lib/redact.js';

function project(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'pgkit-unit-'));
  mkdirSync(path.join(root, 'packages/database'), { recursive: true });
  for (const [f, c] of Object.entries(files)) writeFileSync(path.join(root, f), c);
  return root;
}

const resolve = (root: string, processEnv: NodeJS.ProcessEnv = {}, more: { url?: string; env?: string; envFile?: string } = {}) =>
  resolveTarget({ root, processEnv, ...more });

describe('target resolution', () => {
  const root = project({
    'packages/database/.env': 'DATABASE_URL=postgresql://pkg:pw@pkghost:5433/pkgdb\n',
    'packages/database/.env.prod': 'DATABASE_URL=postgresql://prod:pw@prodhost/proddb\n',
    '.env': 'DATABASE_URL=postgresql://root:pw@roothost/rootdb\n',
    'ci.env': 'DB_HOST=cihost\nDB_USER=ci\nDB_NAME=cidb\n',
  });

  it.each([
    [{ url: 'postgresql://flag@flaghost/flagdb' }, { DATABASE_URL: 'postgresql://e@envhost/envdb' }, 'flagdb', '--url'],
    [{}, { DATABASE_URL: 'postgresql://e@envhost/envdb' }, 'envdb', 'the environment'],
    [{}, { DB_HOST: 'h', DB_NAME: 'discrete' }, 'discrete', 'the environment'],
    [{}, {}, 'pkgdb', 'packages/database/.env'],
    [{ env: 'prod' }, {}, 'proddb', 'packages/database/.env.prod'],
    [{ envFile: 'ci.env' }, {}, 'cidb', 'ci.env'],
  ])('%j with environment %j → %s from %s', (more, processEnv, database, source) => {
    const target = resolve(root, processEnv, more);
    expect(target.database).toBe(database);
    expect(target.source).toBe(source);
  });

  it('falls back to the root .env, and marks prod environments protected', () => {
    expect(resolve(project({ '.env': 'DATABASE_URL=postgresql://r@h/rootonly\n' })).database).toBe('rootonly');
    expect(resolve(root, {}, { env: 'prod' }).protected).toBe(true);
    expect(resolve(root).protected).toBe(false);
  });

  it.each([
    [{ env: 'staging' }, 'NO_DATABASE_URL'],
    [{ env: '../etc' }, 'BAD_ARGUMENT'],
    [{ envFile: 'missing.env' }, 'ENV_FILE_MISSING'],
  ])('%j fails with %s', (more, code) => {
    expect(() => resolve(root, {}, more)).toThrow(expect.objectContaining({ code }) as KitError);
  });

  it.each([
    ['postgresql://u:p%40ss@db.example:6543/my%20db?sslmode=require', { user: 'u', password: 'p@ss', host: 'db.example', port: 6543, database: 'my db', params: { sslmode: 'require' } }],
    ['postgres://u@[::1]/d', { host: '::1', port: 5432, password: undefined }],
    ['postgresql://u@/d?host=/var/run/postgresql', { host: '/var/run/postgresql', database: 'd' }],
  ])('parses %s', (url, expected) => {
    expect(targetFromUrl(url, 'test', 'default')).toMatchObject(expected);
  });

  it.each(['not a url', 'mysql://u:p@h/d', 'postgresql://u:p@h:99999/d', 'postgresql://u:p@h/', 'postgresql://u@h/d?password=x'])('rejects %s', (url) => {
    expect(() => targetFromUrl(url, 'test', 'default')).toThrow(KitError);
  });

  it('gives children the password only through PGPASSWORD, and drops inherited connection variables', () => {
    const target = targetFromUrl('postgresql://u:s3cret@h:5/d?sslmode=verify-full', 'test', 'default');
    const env = childEnv(target, { PATH: '/bin', PGSERVICE: 'stale', DATABASE_URL: 'postgresql://x:y@z/w', DB_PASSWORD: 'y' });
    expect(env).toMatchObject({ PATH: '/bin', PGHOST: 'h', PGPORT: '5', PGUSER: 'u', PGPASSWORD: 's3cret', PGDATABASE: 'd', PGSSLMODE: 'verify-full' });
    expect(env.PGSERVICE).toBeUndefined();
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.DB_PASSWORD).toBeUndefined();
  });
});

describe('redaction', () => {
  it('masks URL passwords and registered secrets, but not the placeholder in examples', () => {
    registerSecret('p@55-word!');
    expect(redact('postgresql://app:hunter2@db/app failed')).toBe('postgresql://app:***@db/app failed');
    expect(redact('auth failed for p@55-word! and p%4055-word!')).toBe('auth failed for *** and ***');
    expect(redact('Expected postgresql://user:password@host:5432/database')).toBe('Expected postgresql://user:password@host:5432/database');
    expect(redactUrl('postgresql://a:b@h/d')).toBe('postgresql://a:***@h/d');
  });
});
