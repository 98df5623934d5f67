import { describe, expect, it } from 'vitest';
import { formatsFor, planRestore, type PlanInput } from '../../lib/restore/plan.js';
import { parseScratchMarker, scratchMarker, scratchName } from '../../lib/restore/swap.js';
import { statementAction } from '../../lib/restore/script.js';

const base: PlanInput = {
  mode: 'replace',
  tables: [],
  jobs: undefined,
  noOwner: false,
  withOwner: false,
  withPrivileges: false,
  crossEnvironment: false,
  archiveTables: ['public.a', 'public."B b"', 'app.c'],
  recordedRows: { 'public.a': 3, 'public."B b"': 0, 'app.c': 7 },
  lockTimeoutSeconds: 30,
};

describe('planRestore: mode → pg_restore arguments, prelude, checks, expected counts', () => {
  it.each<[string, Partial<PlanInput>, { args: string[]; prelude: RegExp; noPrelude?: RegExp; checks: boolean; expected: string[]; creating: boolean; mustExist: string[] }]>([
    ['a full restore empties the target first', {}, { args: [], prelude: /kit_empty_database\(true\)/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--jobs restores into a fresh database: nothing to empty', { jobs: 2 }, { args: [], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: true, mustExist: [] }],
    ['--create', { mode: 'create' }, { args: [], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: true, mustExist: [] }],
    ['--clean lets pg_restore drop what it recreates', { mode: 'clean' }, { args: ['--clean', '--if-exists'], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--schema-only checks no rows', { mode: 'schema-only' }, { args: ['--schema-only'], prelude: /kit_empty_database\(true\)/, checks: false, expected: [], creating: false, mustExist: [] }],
    ['--data-only empties the tables and checks foreign keys', { mode: 'data-only' }, { args: ['--data-only'], prelude: /TRUNCATE TABLE ONLY public\.a, ONLY public\."B b", ONLY app\.c/, checks: true, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: ['public.a', 'public."B b"', 'app.c'] }],
    ['--table by its bare name, quoted or not', { tables: ['B b', 'c'] }, { args: ['--data-only', '--table=B b', '--table=c'], prelude: /TRUNCATE TABLE ONLY public\."B b", ONLY app\.c/, checks: true, expected: ['public."B b"', 'app.c'], creating: false, mustExist: ['public."B b"', 'app.c'] }],
    ['across environments: no owners, no privileges', { crossEnvironment: true }, { args: ['--no-owner', '--no-privileges'], prelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['across environments --with-owner --with-privileges', { crossEnvironment: true, withOwner: true, withPrivileges: true }, { args: [], prelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--no-owner within one environment', { noOwner: true, mode: 'clean' }, { args: ['--clean', '--if-exists', '--no-owner'], prelude: /lock_timeout/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
  ])('%s', (_name, input, want) => {
    const plan = planRestore({ ...base, ...input });
    expect(plan.pgRestoreArgs).toEqual(want.args);
    expect(plan.prelude).toMatch(want.prelude);
    expect(plan.prelude).toMatch(/^SET client_min_messages = warning;\nSET lock_timeout = '30000ms';/);
    if (want.noPrelude) expect(plan.prelude).not.toMatch(want.noPrelude);
    expect(plan.checks !== '').toBe(want.checks);
    expect(Object.keys(plan.expectedRows)).toEqual(want.expected);
    expect(plan.creating).toBe(want.creating);
    expect(plan.mustExist).toEqual(want.mustExist);
  });

  it.each([
    [{ tables: ['nope'] }, /no data for nope \(it has public\.a, public\."B b", app\.c\)/],
    [{ mode: 'create' as const, tables: ['a'] }, /cannot be combined with --table/],
  ])('refuses %j', (input, message) => {
    expect(() => planRestore({ ...base, ...input })).toThrow(message);
  });

  it.each([
    [{ mode: 'replace' as const, tables: [], jobs: undefined }, ['dump', 'tar', 'sql.gz', 'sql']],
    [{ mode: 'replace' as const, tables: [], jobs: 2 }, ['dump']],
    [{ mode: 'clean' as const, tables: [], jobs: undefined }, ['dump', 'tar']],
    [{ mode: 'replace' as const, tables: ['a'], jobs: undefined }, ['dump', 'tar']],
  ])('formats for %j: %j', (input, formats) => {
    expect(formatsFor(input)).toEqual(formats);
  });
});

describe('scratch databases', () => {
  it('carry a marker naming their maker, read back exactly', () => {
    const marker = scratchMarker('restore of', 'my "odd" db', 4242, 'host-1');
    expect(parseScratchMarker(marker)).toEqual({ purpose: 'restore of', database: 'my "odd" db', pid: 4242, host: 'host-1' });
    expect(parseScratchMarker('a comment of the application')).toBeUndefined();
    expect(parseScratchMarker(null)).toBeUndefined();
  });

  it('have names of at most 63 bytes', () => {
    expect(scratchName('x'.repeat(63), 'kit_new', '20260101_000000')).toHaveLength(63);
    expect(Buffer.byteLength(scratchName('é'.repeat(40), 'kit_verify', '20260101_000000'))).toBeLessThanOrEqual(63);
  });
});

describe('statements a restore script may hold', () => {
  const none = { dropOwnership: false, dropPrivileges: false };
  const all = { dropOwnership: true, dropPrivileges: true };
  it.each([
    ['BEGIN', 'BEGIN;', none, false, 'open'],
    ['START', 'START TRANSACTION;', none, false, 'open'],
    ['COMMIT', 'COMMIT;', none, true, 'close'],
    ['END', 'END TRANSACTION;', none, true, 'close'],
    ['SET', 'SET lock_timeout = 0;', none, false, 'drop'],
    ['SET', 'SET statement_timeout = 0;', none, false, 'keep'],
    ['ALTER', 'ALTER TABLE public.t OWNER TO app;', all, false, 'drop'],
    ['ALTER', 'ALTER TABLE public.t OWNER TO app;', none, false, 'keep'],
    ['ALTER', "ALTER TABLE public.t ALTER COLUMN c SET DEFAULT '';", all, false, 'keep'],
    ['ALTER', 'ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO r;', all, false, 'drop'],
    ['GRANT', 'GRANT SELECT ON TABLE public.t TO r;', all, false, 'drop'],
    ['REVOKE', 'REVOKE ALL ON SCHEMA public FROM PUBLIC;', none, false, 'keep'],
    ['ROLLBACK', 'ROLLBACK TO SAVEPOINT a;', none, false, 'keep'],
    ['PREPARE', 'PREPARE q AS SELECT 1;', none, false, 'keep'],
  ])('%s: %s → %s', (command, skeleton, options, open, action) => {
    expect(statementAction({ command, skeleton }, options, open)).toBe(action);
  });
});
