import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INFO_JSON_SCHEMA_PATH, INFO_VERSION, infoJsonSchema, parseInfo, serializeInfo, type BackupInfo } from '../../lib/format/metadata.js';

const root = path.resolve(import.meta.dirname, '../../..');
const published = path.join(root, INFO_JSON_SCHEMA_PATH);
const current = JSON.stringify(infoJsonSchema(), null, 2) + '\n';

const INFO: BackupInfo = {
  schema: 'pg-backup-kit/backup-info',
  version: 1,
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

  it('keeps fields other capabilities add', () => {
    const encryption = { method: 'age' as const, recipients: ['age1yer46t68pvhrurrc0c9t6vp7k2ltew6z2ddfsewaafvgk5yd6pzqkmdfrc'], configuredBy: 'AGE_RECIPIENTS' };
    const reading = parseInfo(serializeInfo({ ...INFO, encryption, physical: { timeline: 1 } } as typeof INFO));
    expect(reading.ok && reading.info.encryption).toEqual(encryption);
    expect(reading.ok && (reading.info as Record<string, unknown>).physical).toEqual({ timeline: 1 });
  });
});
