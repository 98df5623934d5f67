import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INFO_JSON_SCHEMA_PATH, INFO_VERSION, infoJsonSchema, parseInfo, serializeInfo, type BackupInfo } from '../../lib/format/metadata.js';
import { parsePhysicalInfo, PHYSICAL_INFO_JSON_SCHEMA_PATH, physicalInfoJsonSchema, serializePhysicalInfo, type PhysicalInfo } from '../../lib/format/physical-info.js';

const root = path.resolve(import.meta.dirname, '../../..');
const published = path.join(root, INFO_JSON_SCHEMA_PATH);
const current = JSON.stringify(infoJsonSchema(), null, 2) + '\n';

const INFO: BackupInfo = {
  schema: 'pg-backup-kit/backup-info',
  version: 1,
  engine: 'postgresql',
  id: 'backup_manual_20261121_143022',
  type: 'manual',
  description: 'Manual backup',
  environment: 'default',
  startedAt: '2026-11-21T14:30:22.000Z',
  finishedAt: '2026-11-21T14:30:23.500Z',
  durationMs: 1500,
  database: { name: 'app', host: 'localhost', port: 5432, user: 'app', serverVersion: '15.18', serverVersionNum: 150018, sizeBytes: 8000000, configuredBy: 'the environment' },
  tool: { name: 'pg-backup-kit', version: '0.1.0', node: 'v20.20.2' },
  pgDump: { path: '/usr/lib/postgresql/15/bin/pg_dump', version: '15.18' },
  snapshot: { id: '00000003-00000002-1', isolation: 'repeatable read' },
  scope: { tables: [], excludeTables: [], schemas: [], complete: true },
  artifacts: [{ file: 'backup_manual_20261121_143022.dump', format: 'dump', bytes: 1234, sha256: 'a'.repeat(64) }],
  statistics: { source: 'archive', algorithm: 'x', note: 'n', tables: { 'public.t': { rows: 2, fingerprint: 'f' } }, sequences: {}, largeObjects: 0, totalRows: 2 },
  restore: { dump: ['pnpm db:restore -- backup_manual_20261121_143022.dump'] },
};

describe('the .info schema', () => {
  it(`is published in ${INFO_JSON_SCHEMA_PATH} as generated from the zod schema`, () => {
    if (process.env.UPDATE_SCHEMA) writeFileSync(published, current);
    expect(readFileSync(published, 'utf8'), `regenerate with: UPDATE_SCHEMA=1 npx vitest run ${path.relative(root, import.meta.filename)}`).toBe(current);
  });

  it('reads back what the kit writes, sealed with its own checksum', () => {
    const text = serializeInfo(INFO);
    expect(JSON.parse(text).checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(parseInfo(text)).toEqual({ ok: true, info: { ...INFO, checksum: JSON.parse(text).checksum } });
  });

  const sealed = serializeInfo(INFO);
  it.each([
    ['one flipped digit in the statistics', sealed.replace('"rows": 2', '"rows": 3'), 'unreadable', /does not match its own checksum/],
    ['a missing startedAt', JSON.stringify({ ...INFO, startedAt: undefined }), 'unreadable', /startedAt/],
    ['a startedAt that is not a time', JSON.stringify({ ...INFO, startedAt: 'Nov 21 2026' }), 'unreadable', /startedAt/],
    ['no artifacts (verify would pass with nothing checked)', JSON.stringify({ ...INFO, artifacts: [] }), 'unreadable', /artifacts: at least one artifact/],
    ['an artifact named by a path', JSON.stringify({ ...INFO, artifacts: [{ ...INFO.artifacts[0], file: '../../etc/passwd' }] }), 'unreadable', /artifacts\.0\.file/],
    ['a port of the wrong type', JSON.stringify({ ...INFO, database: { ...INFO.database, port: '5432' } }), 'unreadable', /database\.port/],
    ['a newer version', JSON.stringify({ ...INFO, version: INFO_VERSION + 1 }), 'newer', /newer kit .*upgrade the kit/],
    ['not JSON', '{"schema": ', 'unreadable', /not JSON/],
    ['another file kind', '{"schema": "something-else"}', 'unreadable', /not a pg-backup-kit .info/],
    ['null', 'null', 'unreadable', /not a pg-backup-kit .info/],
  ])('refuses %s, saying why', (_name, text, kind, problem) => {
    const reading = parseInfo(text);
    expect(reading.ok).toBe(false);
    if (reading.ok) return;
    expect(reading.kind).toBe(kind);
    expect(reading.problem).toMatch(problem);
  });

  it("reads an older kit's .info, which has no engine, as PostgreSQL, its checksum still holding", () => {
    const { engine: _engine, ...older } = INFO;
    const text = serializeInfo(older as BackupInfo);
    expect(JSON.parse(text)).not.toHaveProperty('engine');
    const reading = parseInfo(text);
    expect(reading.ok && reading.info.engine).toBe('postgresql');
    // edited after sealing: the missing engine does not hide a changed byte
    expect(parseInfo(text.replace('"rows": 2', '"rows": 3')).ok).toBe(false);
  });

  it('writes the engine into every .info it seals, and refuses an engine it does not know', () => {
    expect(JSON.parse(serializeInfo(INFO)).engine).toBe('postgresql');
    const reading = parseInfo(JSON.stringify({ ...INFO, engine: 'oracle' }));
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.problem).toMatch(/engine/);
  });

  it('keeps fields other capabilities add', () => {
    const encryption = { method: 'age' as const, recipients: ['age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc'], configuredBy: 'AGE_RECIPIENTS' };
    const reading = parseInfo(serializeInfo({ ...INFO, encryption, physical: { timeline: 1 } } as typeof INFO));
    expect(reading.ok && reading.info.encryption).toEqual(encryption);
    expect(reading.ok && (reading.info as Record<string, unknown>).physical).toEqual({ timeline: 1 });
  });
});

const PHYSICAL: PhysicalInfo = {
  schema: 'pg-backup-kit/backup-info',
  version: 1,
  kind: 'physical',
  engine: 'postgresql',
  id: 'backup_physical_20261130_020000',
  type: 'physical',
  description: 'Physical base backup',
  environment: 'prod',
  startedAt: '2026-11-30T02:00:00.000Z',
  finishedAt: '2026-11-30T02:00:09.000Z',
  durationMs: 9000,
  server: { host: 'db', port: 5432, user: 'backup', version: '15.18', versionNum: 150018, systemIdentifier: '7312345678901234567', sizeBytes: 30000000, walSegmentSize: 16777216, configuredBy: 'the environment' },
  pgBasebackup: { path: '/usr/lib/postgresql/15/bin/pg_basebackup', version: '15.18', compression: 'lz4' },
  wal: { timeline: 1, startLsn: '0/2000028', stopLsn: '0/2000100', startSegment: '000000010000000000000002', stopSegment: '000000010000000000000002' },
  artifacts: [
    { file: 'backup_physical_20261130_020000.base.tar.lz4', role: 'base', bytes: 4000000, sha256: 'b'.repeat(64) },
    { file: 'backup_physical_20261130_020000.backup_manifest', role: 'manifest', bytes: 90000, sha256: 'c'.repeat(64) },
  ],
  totalBytes: 4090000,
  restore: ['pnpm db:restore:physical -- backup_physical_20261130_020000 --target-dir <dir> --env prod'],
};

describe('the .info schema of a physical backup', () => {
  const publishedPhysical = path.join(root, PHYSICAL_INFO_JSON_SCHEMA_PATH);
  const currentPhysical = JSON.stringify(physicalInfoJsonSchema(), null, 2) + '\n';
  it(`is published in ${PHYSICAL_INFO_JSON_SCHEMA_PATH} as generated from the zod schema`, () => {
    if (process.env.UPDATE_SCHEMA) writeFileSync(publishedPhysical, currentPhysical);
    expect(readFileSync(publishedPhysical, 'utf8'), `regenerate with: UPDATE_SCHEMA=1 npx vitest run ${path.relative(root, import.meta.filename)}`).toBe(currentPhysical);
  });

  it('reads back what the kit writes, sealed, and the logical reader points to the physical commands', () => {
    const text = serializePhysicalInfo(PHYSICAL);
    expect(parsePhysicalInfo(text)).toEqual({ ok: true, info: { ...PHYSICAL, checksum: JSON.parse(text).checksum } });
    const logical = parseInfo(text);
    expect(logical.ok).toBe(false);
    if (!logical.ok) expect(logical.problem).toMatch(/physical backup .*db:restore:physical/);
    expect(parsePhysicalInfo(serializeInfo(INFO))).toEqual({ ok: false, problem: 'is not the .info of a physical backup' });
  });

  it("reads an older kit's physical .info, which has no engine, as PostgreSQL", () => {
    const { engine: _engine, ...older } = PHYSICAL;
    const reading = parsePhysicalInfo(serializePhysicalInfo(older as PhysicalInfo));
    expect(reading.ok && reading.info.engine).toBe('postgresql');
  });

  const sealed = serializePhysicalInfo(PHYSICAL);
  it.each([
    ['an edited stop LSN', sealed.replace('"stopLsn": "0/2000100"', '"stopLsn": "0/3000100"'), /does not match its own checksum/],
    ['an artifact of another backup', JSON.stringify({ ...PHYSICAL, artifacts: [PHYSICAL.artifacts[0], { ...PHYSICAL.artifacts[1], file: 'backup_manual_20261121_143022.dump' }] }), /not a file of backup_physical_20261130_020000/],
    ['an artifact named by a path', JSON.stringify({ ...PHYSICAL, artifacts: [{ ...PHYSICAL.artifacts[0], file: 'backup_x/../../etc/passwd' }, PHYSICAL.artifacts[1]] }), /artifacts\.0\.file/],
    ['no manifest (pg_verifybackup would have nothing)', JSON.stringify({ ...PHYSICAL, artifacts: [PHYSICAL.artifacts[0]] }), /at least base\.tar and backup_manifest/],
    ['a segment name that is not one', JSON.stringify({ ...PHYSICAL, wal: { ...PHYSICAL.wal, startSegment: '../x' } }), /wal\.startSegment/],
    ['a newer version', JSON.stringify({ ...PHYSICAL, version: 2 }), /newer kit/],
  ])('refuses %s, saying why', (_name, text, problem) => {
    const reading = parsePhysicalInfo(text);
    expect(reading.ok).toBe(false);
    if (!reading.ok) expect(reading.problem).toMatch(problem);
  });
});
