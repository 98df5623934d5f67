import { describe, expect, it } from 'vitest';
import { buildInfo, plausible, type InfoFacts } from '../../lib/backup/backup.js';
import { pgDumpArgs } from '../../lib/engines/postgres/dump.js';
import { parseInfo, serializeInfo } from '../../lib/format/metadata.js';

const none = { tables: [], excludeTables: [], schemas: [], lockWaitTimeout: '60s' };

describe('pgDumpArgs', () => {
  it.each([
    ['the whole database', none, ['--snapshot=S', '--lock-wait-timeout=60s', '--no-password']],
    ['tables, strictly', { ...none, tables: ['public.orders', 'app.*'] }, ['--snapshot=S', '--lock-wait-timeout=60s', '--no-password', '--table=public.orders', '--table=app.*', '--strict-names']],
    ['schemas, strictly', { ...none, schemas: ['app'] }, ['--snapshot=S', '--lock-wait-timeout=60s', '--no-password', '--schema=app', '--strict-names']],
    ['excluded tables only: nothing to match strictly', { ...none, excludeTables: ['audit_log'] }, ['--snapshot=S', '--lock-wait-timeout=60s', '--no-password', '--exclude-table=audit_log']],
    ['a pattern that looks like a flag stays one argument', { ...none, tables: ['--file=/etc/passwd'], lockWaitTimeout: '2min' }, ['--snapshot=S', '--lock-wait-timeout=2min', '--no-password', '--table=--file=/etc/passwd', '--strict-names']],
  ])('%s', (_name, options, args) => {
    expect(pgDumpArgs('S', options)).toEqual(args);
  });
});

const started = new Date('2026-11-21T14:30:22.000Z');
const facts = (overrides: Partial<InfoFacts> = {}): InfoFacts => ({
  id: 'backup_manual_20261121_143022',
  environment: 'prod',
  options: { type: 'manual', description: 'Manual backup', ...none },
  started,
  finished: new Date(started.getTime() + 2500),
  database: { name: 'app', host: 'db', port: 5432, user: 'app', serverVersion: '15.18', serverVersionNum: 150018, sizeBytes: 1, configuredBy: 'the environment' },
  pgDump: { path: '/usr/bin/pg_dump', version: '15.18' },
  snapshot: '00000003-1',
  serverTime: new Date(started.getTime() - 1000),
  artifacts: [{ file: 'backup_manual_20261121_143022.dump', format: 'dump', bytes: 100, sha256: 'b'.repeat(64) }],
  stats: { tables: { 'public.t': { rows: 3, fingerprint: 'f' }, 'public.u': { rows: 4, fingerprint: 'g' } }, sequences: {}, complete: true, bytes: 0 },
  source: 'archive',
  largeObjects: 2,
  ...overrides,
});

describe('buildInfo', () => {
  it.each([
    ['times and totals', facts(), { durationMs: 2500, startedAt: '2026-11-21T14:30:22.000Z', snapshot: { id: '00000003-1', isolation: 'repeatable read', takenAt: '2026-11-21T14:30:21.000Z' }, statistics: expect.objectContaining({ totalRows: 7, largeObjects: 2, source: 'archive' }) }],
    ['a partial backup says so', facts({ options: { type: 'manual', description: 'd', ...none, tables: ['public.t'] } }), { scope: { tables: ['public.t'], excludeTables: [], schemas: [], complete: false } }],
    ['no statistics recorded', facts({ stats: undefined, source: 'none' }), { statistics: expect.objectContaining({ tables: {}, totalRows: 0, note: expect.stringMatching(/no per-table statistics were recorded/) }) }],
    ['restore hints keep the environment', facts(), { restore: { dump: [expect.stringMatching(/pnpm db:restore -- backup_manual_20261121_143022\.dump .*--env prod/), expect.stringMatching(/^pg_restore /)] } }],
    ['no server time, no takenAt', facts({ serverTime: undefined }), { snapshot: { id: '00000003-1', isolation: 'repeatable read' } }],
    ['every new backup names its engine', facts(), { engine: 'postgresql' }],
  ])('%s', (_name, input, expected) => {
    expect(buildInfo(input)).toMatchObject(expected);
  });

  it('what it builds passes the .info schema, sealed', () => {
    const text = serializeInfo(buildInfo(facts()));
    expect(JSON.parse(text).engine).toBe('postgresql');
    const reading = parseInfo(text);
    expect(reading.ok).toBe(true);
  });
});

describe('plausible', () => {
  const tap = (head: string, bytes: number) => ({ bytes, head: Buffer.from(head, 'latin1'), digest: () => 'c'.repeat(64) });
  it.each([
    ['dump', tap('PGDMP' + ' '.repeat(100), 2000), true],
    ['dump', tap('garbage' + ' '.repeat(100), 2000), false],
    ['tar', tap(' '.repeat(257) + 'ustar' + ' '.repeat(250), 4096), true],
    ['sql', tap('', 10), false],
    ['sql', tap('', 64), true],
  ] as const)('%s of %j → %s', (format, t, ok) => {
    if (ok) expect(plausible(format, t)).toEqual({ format, sha256: 'c'.repeat(64), bytes: t.bytes });
    else expect(() => plausible(format, t)).toThrow(/implausible/);
  });
});
