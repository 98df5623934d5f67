import { describe, expect, it } from 'vitest';
import { formatsFor, planRestore, type PlanInput } from '../../lib/restore/plan.js';
import { chooseTables, dataEntryIds, largeObjectOids, splitQualifiedName } from '../../lib/restore/tables.js';
import type { TocEntry } from '../../lib/restore/source.js';
import { parseTocLine } from '../../lib/engines/postgres/artifacts.js';
import { parseScratchMarker, scratchMarker, scratchName } from '../../lib/engines/postgres/swap.js';
import { statementAction } from '../../lib/engines/postgres/script.js';

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
  toc: toc([
    '200; 1259 16400 TABLE public a app',
    '3370; 0 16400 TABLE DATA public a app',
    '3371; 0 16401 TABLE DATA public B b app',
    '3372; 0 16402 TABLE DATA app c app',
    '3373; 2613 424242 BLOB - 424242 app',
    '3374; 0 0 BLOBS - BLOBS ',
  ]),
  lockTimeoutSeconds: 30,
};

function toc(lines: string[]): TocEntry[] {
  return lines.map((l) => parseTocLine(l)!);
}

describe('planRestore: mode → pg_restore arguments, prelude, checks, expected counts', () => {
  it.each<[string, Partial<PlanInput>, { args: string[]; list?: number[]; prelude: RegExp; noPrelude?: RegExp; checks: boolean; expected: string[]; creating: boolean; mustExist: string[] }]>([
    ['a full restore empties the target first', {}, { args: [], prelude: /kit_empty_database\(true\)/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--jobs restores into a fresh database: nothing to empty', { jobs: 2 }, { args: [], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: true, mustExist: [] }],
    ['--create', { mode: 'create' }, { args: [], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: true, mustExist: [] }],
    ['--clean lets pg_restore drop what it recreates', { mode: 'clean' }, { args: ['--clean', '--if-exists'], prelude: /lock_timeout/, noPrelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--schema-only checks no rows', { mode: 'schema-only' }, { args: ['--schema-only'], prelude: /kit_empty_database\(true\)/, checks: false, expected: [], creating: false, mustExist: [] }],
    ['--data-only empties the tables, removes the large objects it restores, and checks foreign keys', { mode: 'data-only' }, { args: ['--data-only'], prelude: /TRUNCATE TABLE ONLY public\.a, ONLY public\."B b", ONLY app\.c[^]*lo_unlink\(oid\) FROM pg_catalog\.pg_largeobject_metadata WHERE oid = ANY\('\{424242\}'::oid\[\]\)/, checks: true, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: ['public.a', 'public."B b"', 'app.c'] }],
    ['--table: quoted and unqualified patterns, the data entries alone', { tables: ['"B b"', 'c'] }, { args: ['--data-only'], list: [3371, 3372], prelude: /TRUNCATE TABLE ONLY public\."B b", ONLY app\.c/, noPrelude: /lo_unlink/, checks: true, expected: ['public."B b"', 'app.c'], creating: false, mustExist: ['public."B b"', 'app.c'] }],
    ['across environments: no owners, no privileges', { crossEnvironment: true }, { args: ['--no-owner', '--no-privileges'], prelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['across environments --with-owner --with-privileges', { crossEnvironment: true, withOwner: true, withPrivileges: true }, { args: [], prelude: /kit_empty_database/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
    ['--no-owner within one environment', { noOwner: true, mode: 'clean' }, { args: ['--clean', '--if-exists', '--no-owner'], prelude: /lock_timeout/, checks: false, expected: ['public.a', 'public."B b"', 'app.c'], creating: false, mustExist: [] }],
  ])('%s', (_name, input, want) => {
    const plan = planRestore({ ...base, ...input });
    expect(plan.pgRestoreArgs).toEqual(want.args);
    expect(plan.restoreList).toEqual(want.list);
    expect(plan.prelude).toMatch(want.prelude);
    expect(plan.prelude).toMatch(/^SET client_min_messages = warning;\nSET lock_timeout = '30000ms';/);
    if (want.noPrelude) expect(plan.prelude).not.toMatch(want.noPrelude);
    expect(plan.checks !== '').toBe(want.checks);
    expect(Object.keys(plan.expectedRows)).toEqual(want.expected);
    expect(plan.creating).toBe(want.creating);
    expect(plan.mustExist).toEqual(want.mustExist);
  });

  it.each([
    [{ tables: ['nope'] }, /--table nope matches no table of the backup \(it holds public\.a, public\."B b", app\.c\)/],
    [{ tables: ['B b'] }, /--table B b matches no table/], // unquoted, it folds to lower case, as in pg_dump
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

describe('which tables --table chooses', () => {
  const tables = ['audit.log', 'public.log', 'public.users', '"Billing Dept"."Invoice Lines"', '"Billing Dept"."odd.name ""q"""', '"Billing Dept"."Invoice"'];

  it.each([
    ['"Billing Dept"."odd.name ""q"""', { schema: 'Billing Dept', table: 'odd.name "q"' }],
    ['public.users', { schema: 'public', table: 'users' }],
    ['"a.b".c', { schema: 'a.b', table: 'c' }],
  ])('splits %s', (name, parts) => {
    expect(splitQualifiedName(name)).toEqual(parts);
  });

  it.each<[string[], string[]]>([
    [['audit.log'], ['audit.log']],
    [['users'], ['public.users']],
    [['"Billing Dept"."Invoice Lines"'], ['"Billing Dept"."Invoice Lines"']],
    [['"Billing Dept"."odd.name ""q"""'], ['"Billing Dept"."odd.name ""q"""']],
    [['"Billing Dept".Invoice*'], []], // unquoted letters fold to lower case
    [['"Billing Dept"."Invoice"*'], ['"Billing Dept"."Invoice Lines"', '"Billing Dept"."Invoice"']],
    [['*.log'], ['audit.log', 'public.log']],
    [['public.log', 'audit.*'], ['audit.log', 'public.log']],
  ])('%j → %j', (patterns, chosen) => {
    if (chosen.length === 0) expect(() => chooseTables(tables, patterns)).toThrow(/matches no table/);
    else expect(chooseTables(tables, patterns)).toEqual(chosen);
  });

  it('refuses an unqualified name found in two schemas, and says how to name one or both', () => {
    expect(() => chooseTables(tables, ['log'])).toThrow(/--table log names tables in more than one schema \(audit\.log, public\.log\)\. Name the one you mean \(--table audit\.log\), or all of them on purpose \(--table '\*\.log'\)/);
  });

  it('finds the data entries by exact names, spaces included', () => {
    const entries = toc([
      '10; 0 1 TABLE DATA a b app',
      '11; 0 2 TABLE DATA a b c app',
      '12; 0 3 TABLE DATA Billing Dept Invoice Lines app',
      '13; 0 4 TABLE DATA Billing Dept Invoice app',
    ]);
    const names = ['a.b', 'a."b c"', '"Billing Dept"."Invoice Lines"', '"Billing Dept"."Invoice"'];
    expect(dataEntryIds(entries, names, ['a."b c"', '"Billing Dept"."Invoice"'])).toEqual([11, 13]);
    expect(dataEntryIds(entries, names, ['a.b'])).toEqual([10]);
    expect(() => dataEntryIds(entries, names, ['public.gone'])).toThrow(/no data entry for public\.gone/);
    // schema "a b" table c and schema a table "b c" read the same: refused, never guessed
    expect(() => dataEntryIds(toc(['11; 0 2 TABLE DATA a b c app']), ['a."b c"', '"a b".c'], ['"a b".c'])).toThrow(/cannot tell a\."b c" and "a b"\.c apart/);
  });

  it('reads the large objects an archive holds', () => {
    expect(largeObjectOids(base.toc)).toEqual(['424242']);
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
