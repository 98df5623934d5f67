import { describe, expect, it } from 'vitest';
import { dumpToolProblem } from '../../lib/engines/mysql/fit.js';
import { parseServerVersion, classifyMySqlConnectError } from '../../lib/engines/mysql/connect.js';
import { mySqlDumpArgs, explainMySqlDumpFailure } from '../../lib/engines/mysql/dump.js';
import { quoteMySqlIdentifier } from '../../lib/engines/mysql/quote.js';
import { targetFromUrl } from '../../lib/config/target.js';
import { engineFor } from '../../lib/engines/registry.js';
import { formatsFor } from '../../lib/backup/backup.js';
import { accountName, parseDefiner, parseGrantee } from '../../lib/engines/mysql/roles.js';
import { mySqlRawRestore } from '../../lib/engines/mysql/backup.js';

const M = (release: string | undefined) => ({ flavour: 'MariaDB' as const, release });
const Y = (release: string | undefined) => ({ flavour: 'MySQL' as const, release });

describe('which dump program fits which server', () => {
  it.each([
    ['the same MariaDB release', M('10.11.6'), M('10.11.6'), undefined],
    ['an older patch of the same MariaDB series', M('10.11.2'), M('10.11.6'), undefined],
    ['a newer MariaDB client', M('11.4.2'), M('10.11.6'), undefined],
    ['an older MariaDB minor', M('10.6.18'), M('10.11.6'), /mariadb-dump 10\.6\.18 is older than the server \(MariaDB 10\.11\.6\).*apt-get install mariadb-client/],
    ['an older MariaDB major', M('10.11.6'), M('11.4.2'), /older than the server \(MariaDB 11\.4\.2\).*release 11\.4 or newer/],
    ['MariaDB\'s client for MySQL 8', M('10.11.6'), Y('8.0.36'), /is MariaDB's \(10\.11\.6\), and the server is MySQL 8\.0\.36.*mysql-client.*8\.0/],
    ['MariaDB\'s client for MySQL 5.7', M('10.11.6'), Y('5.7.44'), undefined],
    ['MySQL\'s client for MariaDB', Y('8.0.36'), M('10.11.6'), /is MySQL's \(8\.0\.36\), and the server is MariaDB 10\.11\.6.*mariadb-client/],
    ['MySQL 8.0 client for a MySQL 8.4 server', Y('8.0.36'), Y('8.4.0'), /8\.0\.36 is older than the server \(MySQL 8\.4\.0\)/],
    ['MySQL 8.4 client for a MySQL 8.0 server', Y('8.4.0'), Y('8.0.36'), undefined],
    ['a client that does not say its release', M(undefined), M('10.11.6'), undefined],
  ])('%s', (_what, tool, server, expected) => {
    const problem = dumpToolProblem('mariadb-dump', tool, server);
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});

describe('what a MySQL server says it is', () => {
  it.each([
    ['10.11.6-MariaDB-0+deb12u1', 'Debian 12', { flavour: 'MariaDB', release: '10.11.6', major: 10, versionNum: 101106 }],
    ['11.4.2-MariaDB', 'mariadb.org binary distribution', { flavour: 'MariaDB', release: '11.4.2', major: 11, versionNum: 110402 }],
    ['8.0.36', 'MySQL Community Server - GPL', { flavour: 'MySQL', release: '8.0.36', major: 8, versionNum: 80036 }],
    ['5.5.5-10.11.6-MariaDB', '', { flavour: 'MariaDB' }],
  ])('%s (%s)', (version, comment, expected) => {
    expect(parseServerVersion(version, comment)).toMatchObject(expected);
  });
});

describe('mariadb-dump arguments', () => {
  const scope = { schemas: [], tables: [], excludeTables: [] };
  it('dumps one database in one transaction with routines, triggers, events, hex blobs and utf8mb4', () => {
    const args = mySqlDumpArgs('shop', scope);
    expect(args).toEqual(expect.arrayContaining(['--single-transaction', '--skip-lock-tables', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4']));
    expect(args.at(-1)).toBe('shop');
    expect(args).not.toContain('--databases');
    expect(args.join(' ')).not.toMatch(/password|--user|--host/);
  });

  it('names tables after the database and ignores excluded ones as db.table', () => {
    expect(mySqlDumpArgs('shop', { ...scope, tables: ['orders', 'shop.items'] }).slice(-3)).toEqual(['shop', 'orders', 'items']);
    expect(mySqlDumpArgs('shop', { ...scope, excludeTables: ['audit log'] })).toContain('--ignore-table=shop.audit log');
  });

  it('refuses --schema, and a table of another database', () => {
    expect(() => mySqlDumpArgs('shop', { ...scope, schemas: ['public'] })).toThrow(/--schema has no meaning for MySQL\/MariaDB/);
    expect(() => mySqlDumpArgs('shop', { ...scope, tables: ['other.t'] })).toThrow(/names a table of another database/);
  });

  it('says in the kit\'s words what mariadb-dump said', () => {
    expect(explainMySqlDumpFailure('mariadb-dump: Couldn\'t find table: "nosuch"\n')?.code).toBe('NOTHING_MATCHED');
    expect(explainMySqlDumpFailure('mariadb-dump: Error 2013: Lost connection to server during query when dumping table `t` at row: 12\n')?.code).toBe('SERVER_UNREACHABLE');
    expect(explainMySqlDumpFailure('something else')).toBeUndefined();
    const routine = explainMySqlDumpFailure('mariadb-dump: limited has insufficient privileges to SHOW CREATE FUNCTION `order_weight`!\n');
    expect(routine?.code).toBe('PG_DUMP_FAILED');
    expect(routine?.message).toMatch(/limited may not read the body of function `order_weight`, so the backup would lose it\. Grant it SELECT ON mysql\.proc/);
  });
});

describe('the MySQL engine', () => {
  const target = targetFromUrl('mysql://app:pw@db:3306/shop', 'test', 'default');

  it('is registered under mysql and quotes identifiers with backticks', () => {
    const engine = engineFor('mysql');
    expect(engine.label).toBe('MySQL/MariaDB');
    expect(engine.quoteIdentifier('we`ird name')).toBe('`we``ird name`');
    expect(quoteMySqlIdentifier('t')).toBe('`t`');
  });

  it.each([
    [{ code: 'ER_ACCESS_DENIED_ERROR', message: 'Access denied for user \'app\'@\'localhost\' (using password: YES)' }, 'AUTH_FAILED', false, /rejected user "app"/],
    [{ code: 'ER_DBACCESS_DENIED_ERROR', message: 'Access denied for user \'app\'@\'%\' to database \'shop\'' }, 'AUTH_FAILED', false, /may not use database "shop"/],
    [{ code: 'ER_BAD_DB_ERROR', message: 'Unknown database \'shop\'' }, 'DATABASE_MISSING', false, /Database "shop" does not exist/],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:3306' }, 'SERVER_UNREACHABLE', true, /No MySQL\/MariaDB server answers at db:3306/],
    [{ code: 'ENOENT', message: 'connect ENOENT /tmp/x.sock' }, 'SERVER_UNREACHABLE', true, /--wait/],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND db' }, 'UNKNOWN_HOST', true, /could not be resolved/],
  ])('classifies %j', (error, code, retryable, message) => {
    const classified = classifyMySqlConnectError(error, target);
    expect(classified.error.code).toBe(code);
    expect(classified.retryable).toBe(retryable);
    expect(classified.error.message).toMatch(message);
  });

  it('refuses the archive members a SQL-script backup never needs, naming why', async () => {
    const engine = engineFor('mysql');
    await expect(async () => engine.readToc({ name: 'mariadb', path: 'mariadb', version: '10.11.6', major: 10 }, 'x.dump', {})).rejects.toThrow(/belongs to PostgreSQL's archive formats/);
    expect(() => engine.dump({ tool: { name: 'mariadb-dump', path: 'mariadb-dump', version: '10.11.6', major: 10 }, target, format: 'dump', snapshot: '', scope: { schemas: [], tables: [], excludeTables: [], lockWaitTimeout: '60s' }, env: {} })).toThrow(/there is no dump archive for this engine/);
  });
});

describe('the formats a backup writes per engine', () => {
  const mysql = engineFor('mysql');
  const postgres = engineFor('postgresql');
  it.each([
    ['PostgreSQL, no --format', postgres, { formats: ['sql', 'sql.gz', 'dump', 'tar'] as const, formatsDefaulted: true }, ['sql', 'sql.gz', 'dump', 'tar']],
    ['MySQL, no --format', mysql, { formats: ['sql', 'sql.gz', 'dump', 'tar'] as const, formatsDefaulted: true }, ['sql', 'sql.gz']],
    ['MySQL, --format sql.gz', mysql, { formats: ['sql.gz'] as const }, ['sql.gz']],
    ['PostgreSQL, the kit\'s own backup', postgres, { formats: ['dump'] as const, ownFormat: true }, ['dump']],
    ['MySQL, the kit\'s own backup', mysql, { formats: ['dump'] as const, ownFormat: true }, ['sql.gz']],
  ])('%s', (_what, engine, options, expected) => {
    expect(formatsFor(engine, { ...options, formats: [...options.formats] })).toEqual(expected);
  });

  it('refuses a format the engine does not write, naming the ones it does', () => {
    expect(() => formatsFor(mysql, { formats: ['sql', 'dump', 'tar'] })).toThrow(/--format dump, tar: MySQL\/MariaDB backups are sql and sql\.gz only \(those are PostgreSQL archive formats\)\. Choose --format sql,sql\.gz\. Nothing was written\./);
  });
});

describe('the accounts a MySQL database needs', () => {
  it.each([
    ["'app reader'@'%'", { user: 'app reader', host: '%' }],
    ["'o''brien'@'10.0.0.%'", { user: "o'brien", host: '10.0.0.%' }],
    ["'role_x'@''", { user: 'role_x', host: '' }],
    ['not a grantee', undefined],
  ])('GRANTEE %s', (grantee, expected) => {
    expect(parseGrantee(grantee)).toEqual(expected);
  });

  it('reads a DEFINER by its last @, and writes accounts as MySQL does', () => {
    expect(parseDefiner('app@localhost')).toEqual({ user: 'app', host: 'localhost' });
    expect(parseDefiner('we@ird@%')).toEqual({ user: 'we@ird', host: '%' });
    expect(accountName({ user: 'app`x', host: '%' })).toBe('`app``x`@`%`');
  });

  it('tells a person how to restore by hand with the mariadb client, never with a password on the line', () => {
    const raw = mySqlRawRestore({ sql: 'b.sql', 'sql.gz': 'b.sql.gz' });
    expect(raw.sql).toBe('mariadb --defaults-extra-file=<option file with user, password, host> <database> < b.sql');
    expect(raw['sql.gz']).toBe('gunzip -c b.sql.gz | mariadb --defaults-extra-file=<option file with user, password, host> <database>');
  });
});
