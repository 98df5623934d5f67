import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnv, describeTarget, resolveTarget, targetFromUrl, targetUrl } from '../../lib/config/target.js';
import { engineForTarget } from '../../lib/engines/registry.js';
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

  it.each(['not a url', 'sqlite://u:p@h/d', 'mysql://u:p@h:99999/d', 'mysql://u:p@h/', 'mysql://u:p@h/d?socket=relative.sock', 'postgresql://u:p@h:99999/d', 'postgresql://u:p@h/', 'postgresql://u@h/d?password=x'])('rejects %s', (url) => {
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

describe('MySQL and MariaDB targets', () => {
  it.each([
    ['mysql://app:pw@db.example:3307/shop', { engine: 'mysql', host: 'db.example', port: 3307, user: 'app', password: 'pw', database: 'shop' }],
    ['mariadb://app:pw@db.example/shop', { engine: 'mysql', host: 'db.example', port: 3306, user: 'app', database: 'shop' }],
    ['MySQL://db/shop', { engine: 'mysql', host: 'db', port: 3306, user: 'root', password: undefined, database: 'shop' }],
    ['mysql://app:p%40ss%3Aw%2Frd@[::1]/my%20db', { engine: 'mysql', host: '::1', user: 'app', password: 'p@ss:w/rd', database: 'my db' }],
    ['mysql://app:pw@localhost/shop?socket=/run/mysqld/mysqld.sock', { engine: 'mysql', host: '/run/mysqld/mysqld.sock', database: 'shop', params: {} }],
    ['mysql://app:pw@/shop?socket=/tmp/m.sock&ssl-mode=REQUIRED', { engine: 'mysql', host: '/tmp/m.sock', params: { 'ssl-mode': 'REQUIRED' } }],
  ])('%s', (url, expected) => {
    const target = targetFromUrl(url, 'test', 'default');
    expect(target).toMatchObject(expected);
    expect(engineForTarget(target).name).toBe('mysql');
  });

  it('leaves PostgreSQL targets without an engine (PostgreSQL, as before)', () => {
    const target = targetFromUrl('postgresql://u:p@h/d', 'test', 'default');
    expect(target.engine).toBeUndefined();
    expect(engineForTarget(target).name).toBe('postgresql');
  });

  it('registers the password as a secret', () => {
    targetFromUrl('mysql://app:Zq9-mysql-secret@h/d', 'test', 'default');
    expect(redact('said Zq9-mysql-secret')).not.toContain('Zq9-mysql-secret');
  });

  it('names the three schemes when the scheme is wrong', () => {
    expect(() => targetFromUrl('sqlite://u:p@h/d', 'the environment', 'default')).toThrow(/must start with postgresql:\/\/, mysql:\/\/ or mariadb:\/\/ \(got sqlite:\/\/\)/);
    expect(() => targetFromUrl('mysql:u:p@h/d', 'the environment', 'default')).toThrow(/must start with postgresql:\/\/, mysql:\/\/ or mariadb:\/\/ \(with both slashes\)/);
  });

  it.each([
    [{ DB_ENGINE: 'mysql', DB_HOST: 'h', DB_NAME: 'd', DB_USER: 'u', DB_PASSWORD: 'pw' }, { engine: 'mysql', host: 'h', port: 3306, user: 'u', password: 'pw', database: 'd' }],
    [{ DB_ENGINE: 'MariaDB', DB_NAME: 'd' }, { engine: 'mysql', host: 'localhost', port: 3306, user: 'root', database: 'd' }],
    [{ DB_ENGINE: 'mysql', DB_HOST: 'h', DB_PORT: '3310', DB_NAME: 'd' }, { engine: 'mysql', port: 3310 }],
    [{ DB_ENGINE: 'postgresql', DB_NAME: 'd' }, { port: 5432, user: 'postgres' }],
    [{ DB_NAME: 'd' }, { port: 5432, user: 'postgres' }],
  ])('discrete variables %j', (processEnv, expected) => {
    const target = resolve(project({}), processEnv);
    expect(target).toMatchObject(expected);
    if (!('engine' in expected)) expect(target.engine).toBeUndefined();
  });

  it('refuses a DB_ENGINE it does not know, and one that contradicts DATABASE_URL', () => {
    expect(() => resolve(project({}), { DB_ENGINE: 'oracle', DB_NAME: 'd' })).toThrow(/DB_ENGINE in the environment is "oracle"; the kit knows postgresql, mysql and mariadb/);
    expect(() => resolve(project({}), { DB_ENGINE: 'mysql', DATABASE_URL: 'postgresql://u@h/d' })).toThrow(/DB_ENGINE=mysql but its DATABASE_URL is a postgresql URL/);
    expect(resolve(project({}), { DB_ENGINE: 'mariadb', DATABASE_URL: 'mysql://u@h/d' }).engine).toBe('mysql');
  });

  it('reads mysql:// from a project .env file', () => {
    const root = project({ 'packages/database/.env': 'DATABASE_URL=mysql://app:pw@dbhost/app\n' });
    expect(resolve(root)).toMatchObject({ engine: 'mysql', host: 'dbhost', port: 3306, source: 'packages/database/.env' });
  });

  it('gives MySQL children no password and no connection at all: the option file carries it', () => {
    const target = targetFromUrl('mysql://u:s3cret-my@h:3307/d', 'test', 'default');
    const env = childEnv(target, { PATH: '/bin', MYSQL_PWD: 'stale', MYSQL_HOST: 'elsewhere', PGPASSWORD: 'x', DATABASE_URL: 'mysql://x:y@z/w', DB_PASSWORD: 'y', LANG: 'C.UTF-8' });
    expect(env).toEqual({ PATH: '/bin', LANG: 'C.UTF-8' });
    expect(JSON.stringify(env)).not.toContain('s3cret-my');
  });

  it('is described and rebuilt as a URL per engine, never with the password in the description', () => {
    const tcp = targetFromUrl('mysql://u:p%40w@h:3307/d', 'test', 'default');
    expect(describeTarget(tcp)).toBe('u@h:3307/d');
    expect(targetFromUrl(targetUrl(tcp), 'test', 'default')).toMatchObject({ engine: 'mysql', host: 'h', port: 3307, user: 'u', password: 'p@w', database: 'd' });
    const socket = targetFromUrl('mysql://u@localhost/d?socket=/tmp/my.sock', 'test', 'default');
    expect(describeTarget(socket)).toBe('u@/tmp/my.sock/d');
    expect(targetUrl(socket)).toBe('mysql://u@localhost:3306/d?socket=%2Ftmp%2Fmy.sock');
    expect(targetFromUrl(targetUrl(socket), 'test', 'default').host).toBe('/tmp/my.sock');
    expect(targetUrl(targetFromUrl('postgresql://u:p@h/d', 'test', 'default'))).toBe('postgresql://u:p@h:5432/d');
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
