import { describe, expect, it } from 'vitest';
import { backupStem, formatStamp, isValidType, ownsArtifact, parseFormats, stemOf } from '../../lib/format/naming.js';

describe('backup names', () => {
  it.each([
    ['2026-11-21T14:30:22.999Z', '20261121_143022'],
    ['2026-01-02T03:04:05Z', '20260102_030405'],
    ['2026-03-29T01:30:00+02:00', '20260328_233000'], // always UTC, whatever the offset
  ])('stamps %s as %s', (iso, stamp) => {
    expect(formatStamp(new Date(iso))).toBe(stamp);
  });

  it.each([
    [[], 'backup_manual_20261121_143022'],
    [['backup_manual_20261121_143022'], 'backup_manual_20261121_143022_2'],
    [['backup_manual_20261121_143022', 'backup_manual_20261121_143022_2'], 'backup_manual_20261121_143022_3'],
    [['backup_auto_20261121_143022'], 'backup_manual_20261121_143022'],
  ])('with %j taken, a new stem is %s', (taken, expected) => {
    expect(backupStem('manual', new Date('2026-11-21T14:30:22Z'), new Set(taken))).toBe(expected);
  });

  it.each([
    ['backup_manual_20261121_143022.sql.gz.partial', 'backup_manual_20261121_143022'],
    ['backup_pre-migrate_20261121_143022_2.info', 'backup_pre-migrate_20261121_143022_2'],
    ['backup_manual_2026.sql', undefined],
    ['notes.txt', undefined],
  ])('the stem of %s is %s', (file, stem) => {
    expect(stemOf(file)).toBe(stem);
  });

  const id = 'backup_export_20261121_143022';
  it.each([
    [`${id}.zip`, true],
    [`${id}/metadata.json`, true],
    [`${id}/data/public.t.csv`, true],
    [`${id}_2/data/public.t.csv`, false],
    [`${id}x/data/public.t.csv`, false],
    [`${id}/../elsewhere.csv`, false],
    [`${id}/./data.csv`, false],
    [`${id}//data.csv`, false],
    [`${id}/data\\..\\x.csv`, false],
    ['backup_manual_20261121_143022.dump', false],
    [`/${id}/metadata.json`, false],
  ])(`${id} owns %s: %s`, (file, owned) => {
    expect(ownsArtifact(id, file)).toBe(owned);
  });

  it.each([
    ['manual', true],
    ['pre-migrate', true],
    ['Manual', false],
    ['../etc', false],
    ['a b', false],
    ['', false],
  ])('type %j is valid: %s', (type, valid) => {
    expect(isValidType(type)).toBe(valid);
  });

  it.each([
    [[], ['sql', 'sql.gz', 'dump', 'tar'], []],
    [['dump,sql.gz'], ['sql.gz', 'dump'], []],
    [['dump', 'TAR'], ['dump', 'tar'], []],
    [['dump,xml'], ['dump'], ['xml']],
  ])('--format %j → %j (unknown %j)', (values, formats, unknown) => {
    expect(parseFormats(values)).toEqual({ formats, unknown });
  });
});
