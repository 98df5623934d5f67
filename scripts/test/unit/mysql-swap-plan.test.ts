/**
 * The pure parts of the MySQL/MariaDB restore: the names of the databases it makes beside the
 * target (at most 64 characters, MySQL's limit, counted in characters), the marker a later run
 * recognises them by, and the plan that always swaps and refuses what a swap cannot do.
 */
import { describe, expect, it } from 'vitest';
import { planRestore, refuseSwapOnly, type PlanInput } from '../../lib/restore/plan.js';
import { engineFor } from '../../lib/engines/registry.js';
import { kitDatabaseName, markerText, parseMarker } from '../../lib/engines/mysql/marker.js';

const mysql = engineFor('mysql');

const input: PlanInput = {
  mode: 'replace',
  tables: [],
  jobs: undefined,
  noOwner: false,
  withOwner: false,
  withPrivileges: false,
  crossEnvironment: true,
  archiveTables: ['customers', 'orders'],
  recordedRows: { customers: 4, orders: 9 },
  toc: [],
  lockTimeoutSeconds: 30,
};

describe('MySQL restore planning', () => {
  it('always restores into a fresh database swapped in, checking every recorded table', () => {
    expect(planRestore(input, mysql)).toMatchObject({ creating: true, expectedRows: { customers: 4, orders: 9 }, mustExist: [], dropOwnership: false, prelude: '', checks: '' });
    expect(planRestore({ ...input, mode: 'create' }, mysql).creating).toBe(true);
  });

  it.each([
    [{ tables: ['orders'] }, '--table'],
    [{ jobs: 2 }, '--jobs'],
    [{ mode: 'data-only' as const }, '--data-only'],
    [{ mode: 'schema-only' as const }, '--schema-only'],
    [{ mode: 'clean' as const }, '--clean'],
  ])('refuses %o by name', (change, flag) => {
    expect(() => planRestore({ ...input, ...change }, mysql)).toThrow(new RegExp(`^${flag} is not available for MySQL/MariaDB databases: their DDL is not transactional`));
    expect(() => refuseSwapOnly({ ...input, ...change }, mysql)).toThrow(/Nothing was changed\.$/);
  });

  it('leaves PostgreSQL alone', () => {
    expect(() => refuseSwapOnly({ ...input, tables: ['public.a'] }, engineFor('postgresql'))).not.toThrow();
  });
});

describe('MySQL kit database names and markers', () => {
  it.each([
    ['app', 'kit_new', '20261208_010203', 'app_kit_new_20261208_010203'],
    ['x'.repeat(64), 'kit_old', '20261208_010203', 'x'.repeat(64 - 24) + '_kit_old_20261208_010203'],
    ['ä'.repeat(64), 'kit_verify', '20261208_010203', 'ä'.repeat(64 - 27) + '_kit_verify_20261208_010203'],
    ['😀'.repeat(40), 'kit_new', '1', '😀'.repeat(40) + '_kit_new_1'],
  ])('%s + %s fits in 64 characters', (database, suffix, stamp, expected) => {
    const name = kitDatabaseName(database, suffix, stamp);
    expect(name).toBe(expected);
    expect([...name].length).toBeLessThanOrEqual(64);
  });

  it('reads back the marker it writes, and nothing else', () => {
    const text = markerText('previous copy of', 'my "odd" db', 4242, 'host-1');
    expect(parseMarker(text)).toEqual({ purpose: 'previous copy of', database: 'my "odd" db', pid: 4242, host: 'host-1' });
    expect(parseMarker('pg-backup-kit: the tables of "app" before a restore, kept by --keep-old')).toBeUndefined();
    expect(parseMarker(null)).toBeUndefined();
    expect(parseMarker('some comment')).toBeUndefined();
  });
});
