import { describe, expect, it } from 'vitest';
import { compareExtensionVersions, extensionProblems, packageHint } from '../../lib/engines/postgres/extensions.js';
import { copySource } from '../../lib/engines/postgres/copy.js';
import { emptyForReload } from '../../lib/export/import.js';
import { judgeTables } from '../../lib/export/chain.js';
import { tableSteps } from '../../lib/export/chain-restore.js';
import { parseInfo, serializeInfo, type BackupInfo } from '../../lib/format/metadata.js';
import type { ExportTable } from '../../lib/format/export-metadata.js';

describe('extension versions', () => {
  it.each([
    ['3.3.2', '3.3.2', 0],
    ['3.3.2', '3.4.0', -1],
    ['3.10', '3.9', 1],
    ['1.6', '1.6.1', -1],
    ['4.7.2', '4.7', 1],
    ['2.0beta1', '2.0beta2', -1],
    ['1.0', '1.0-dev', -1],
  ])('%s against %s: %i', (a, b, order) => {
    expect(compareExtensionVersions(a, b)).toBe(order);
  });
});

describe('what a target server cannot provide', () => {
  const offered = [
    { name: 'postgis', defaultVersion: '3.3.2' },
    { name: 'hstore', defaultVersion: '1.8' },
  ];

  it('accepts the same or a newer default version, and a name-only need the server offers', () => {
    expect(extensionProblems([{ name: 'postgis', version: '3.3.2' }, { name: 'hstore', version: '1.7' }, { name: 'hstore', version: undefined }], offered, 15)).toEqual([]);
  });

  it('names a missing extension with its package, and an older default with both versions', () => {
    expect(extensionProblems([{ name: 'pg_partman', version: '4.7.2' }, { name: 'postgis', version: '3.4.1' }, { name: 'citext', version: undefined }], offered, 15)).toEqual([
      'pg_partman 4.7.2: the server offers no pg_partman (install postgresql-15-partman)',
      "postgis 3.4.1: the server offers 3.3.2, older than the backup's (upgrade postgresql-15-postgis-3 to 3.4.1 or later)",
      "citext: the server offers no citext (install postgresql-15 (PostgreSQL's contrib modules; other platforms package them as postgresql15-contrib))",
    ]);
  });

  it.each([
    ['postgis_topology', 16, 'postgresql-16-postgis-3'],
    ['pg_partman', 15, 'postgresql-15-partman'],
    ['pg_cron', 15, 'its package (on Debian/Ubuntu usually postgresql-15-cron)'],
  ])('%s on PostgreSQL %i comes from %s', (name, major, hint) => {
    expect(packageHint(name, major)).toBe(hint);
  });
});

describe('extension configuration tables', () => {
  const columns = [{ name: 'srid', type: 'integer' }, { name: 'Auth Name', type: 'character varying(256)' }];

  it('are read through the filter their extension registered, as pg_dump reads them', () => {
    expect(copySource({ name: 'public.spatial_ref_sys', columns, extensionFilter: 'WHERE NOT (srid BETWEEN 2000 AND 2217)' })).toBe('(SELECT "srid", "Auth Name" FROM public.spatial_ref_sys WHERE NOT (srid BETWEEN 2000 AND 2217))');
    expect(copySource({ name: 'partman.part_config', columns })).toBe('partman.part_config');
  });

  it('a partial import deletes only the filtered rows of such a table, and empties the others', () => {
    const table = (name: string, extensionFilter?: string): ExportTable => ({ name, schema: 'public', table: name, file: `data/${name}.csv`, columns, rows: 1, bytes: 1, sha256: '', ...(extensionFilter ? { extensionFilter } : {}) });
    const onlyFiltered = emptyForReload([table('public.spatial_ref_sys', 'WHERE srid > 900000')]);
    expect(onlyFiltered).toBe('SET LOCAL session_replication_role = replica;\nDELETE FROM public.spatial_ref_sys WHERE srid > 900000;');
    const both = emptyForReload([table('public.t'), table('public.spatial_ref_sys', 'WHERE srid > 900000')]);
    expect(both).toContain('TRUNCATE TABLE ONLY public.t;');
    expect(both).not.toMatch(/TRUNCATE[^;]*spatial_ref_sys/);
    expect(both.endsWith('DELETE FROM public.spatial_ref_sys WHERE srid > 900000;')).toBe(true);
  });
});

describe('extension configuration tables in a differential chain', () => {
  const columns = [{ name: 'srid', type: 'integer' }];

  it('are never judged for a basis column: neither differential nor refused as unsuitable', () => {
    const config = { oid: 1, schema: 'public', table: 'spatial_ref_sys', name: 'public.spatial_ref_sys', columns, primaryKey: ['srid'], bytes: 0, extensionConfig: true, extensionFilter: 'WHERE srid > 900000' };
    const plain = { ...config, oid: 2, table: 't', name: 'public.t', extensionConfig: undefined, extensionFilter: undefined };
    const judged = judgeTables([config, plain], {});
    expect(judged.suitable.size).toBe(0);
    expect(judged.unsuitable.map((u) => u.table)).toEqual(['public.t']);
  });

  it('are replaced and counted through their filter when a differential is applied', () => {
    const steps = tableSteps({ name: 'public.spatial_ref_sys', schema: 'public', table: 'spatial_ref_sys', file: 'data/x.csv', columns, rows: 2, bytes: 1, sha256: '', extensionFilter: 'WHERE srid > 900000', chain: { mode: 'full', basis: undefined, primaryKey: ['srid'], rowsAtSnapshot: 2, keys: undefined, deleted: undefined } }, 'backup_export_x', 't1');
    expect(steps.deletes).toBe('DELETE FROM public.spatial_ref_sys WHERE srid > 900000;\n');
    expect(steps.check).toContain('SELECT count(*) INTO t1 FROM public.spatial_ref_sys WHERE srid > 900000;');
  });
});

describe('the extensions a backup records', () => {
  it('read back from a .info, and a .info without them (an older kit\'s) is still read', () => {
    const info = {
      schema: 'pg-backup-kit/backup-info', version: 1, engine: 'postgresql', id: 'backup_manual_20261121_143022', type: 'manual', description: 'Manual backup', environment: 'default',
      startedAt: '2026-11-21T14:30:22.000Z', finishedAt: '2026-11-21T14:30:23.500Z', durationMs: 1500,
      database: { name: 'app', host: 'localhost', port: 5432, user: 'app', serverVersion: '15.18', serverVersionNum: 150018, sizeBytes: 8000000, configuredBy: 'the environment' },
      tool: { name: 'pg-backup-kit', version: '0.1.0', node: 'v20.20.2' },
      pgDump: { path: '/usr/lib/postgresql/15/bin/pg_dump', version: '15.18' },
      snapshot: { id: '00000003-00000002-1', isolation: 'repeatable read' },
      scope: { tables: [], excludeTables: [], schemas: [], complete: true },
      artifacts: [{ file: 'backup_manual_20261121_143022.dump', format: 'dump', bytes: 1234, sha256: 'a'.repeat(64) }],
      statistics: { source: 'archive', algorithm: 'x', note: 'n', tables: {}, sequences: {}, largeObjects: 0, totalRows: 0 },
      restore: {},
    } satisfies BackupInfo;
    const withExtensions = { ...info, extensions: [{ name: 'postgis', version: '3.3.2', schema: 'public' }] };
    const read = parseInfo(serializeInfo(withExtensions));
    expect(read.ok && read.info.extensions).toEqual(withExtensions.extensions);
    const old = parseInfo(serializeInfo(info));
    expect(old.ok && old.info.extensions).toBeUndefined();
    expect(parseInfo(serializeInfo({ ...info, extensions: [{ name: 'postgis' }] } as unknown as BackupInfo)).ok).toBe(false);
  });
});
