import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planPrechecks, type ServerSettings } from '../../lib/physical/checks.js';
import { basebackupArgs, chooseCompression, roleOf, walRangeOf } from '../../lib/physical/backup.js';
import { autoConfBlock, classifyRecoveryLog, unreadableRecordIn, confValue, kitRestoreCommand, localRestoreCommand, pgTimestamp, primaryConninfo, recoverySettings } from '../../lib/physical/recovery.js';
import { judgeArchive, type ArchiverFacts } from '../../lib/physical/status.js';
import { findGaps, formatLsn, missingBetween, parseLsn, segmentBeforeLsn, segmentOfLsn, segmentsOlderThan } from '../../lib/physical/wal-names.js';
import { isArchivableName } from '../../lib/physical/archive.js';
import { tarArgs } from '../../lib/physical/extract.js';
import { parseTablespaceMap, parseTablespaceMappings } from '../../lib/physical/tablespaces.js';
import { planPhysicalRetention } from '../../lib/physical/retention.js';
import type { PhysicalInfo } from '../../lib/physical/info.js';
import { DEFAULT_POLICY } from '../../lib/retention/plan.js';

const MB16 = 16 * 1024 * 1024;

describe('WAL names', () => {
  it.each([
    ['0/3000148', 1, '000000010000000000000003'],
    ['1/FF000000', 2, '0000000200000001000000FF'],
    ['0/0', 1, '000000010000000000000000'],
  ])('LSN %s on timeline %i lies in %s', (lsn, tl, name) => {
    expect(segmentOfLsn(tl, parseLsn(lsn), MB16)).toBe(name);
    expect(formatLsn(parseLsn(lsn))).toBe(lsn);
  });

  it('a backup ending on a segment boundary needs nothing of the next segment', () => {
    expect(segmentBeforeLsn(1, parseLsn('0/4000000'), MB16)).toBe('000000010000000000000003');
    expect(segmentBeforeLsn(1, parseLsn('0/4000028'), MB16)).toBe('000000010000000000000004');
  });

  it('finds gaps per timeline, across the 4 GB boundary', () => {
    const names = ['0000000100000000000000FE', '0000000100000000000000FF', '000000010000000100000001', '000000020000000100000005', '000000020000000100000006', '00000002.history'];
    expect(findGaps(names, MB16)).toEqual([{ timeline: 1, from: '000000010000000100000000', to: '000000010000000100000000', missing: 1 }]);
    expect(missingBetween('0000000100000000000000FE', '000000010000000100000001', new Set(names), MB16)).toEqual(['000000010000000100000000']);
  });

  it('only segments before the oldest needed one are old; history files stay', () => {
    const names = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000001.00000028.backup', '000000010000000000000003', '00000001.history'];
    expect(segmentsOlderThan(names, '000000010000000000000002', MB16)).toEqual(['000000010000000000000001', '000000010000000000000001.00000028.backup']);
  });

  it.each([
    ['000000010000000000000003', true],
    ['00000002.history', true],
    ['000000010000000000000003.00000028.backup', true],
    ['../etc/passwd', false],
    ['000000010000000000000003.partial', true],
    ['pg_wal', false],
  ])('archivable name %s: %s', (name, ok) => expect(isArchivableName(name)).toBe(ok));
});

const healthy: ServerSettings = {
  versionNum: 150010, version: '15.10', user: 'backup', superuser: false, replication: true, walLevel: 'replica', maxWalSenders: 10, walSendersInUse: 0,
  hbaReplicationLines: null, systemIdentifier: '1', walSegmentSize: MB16, sizeBytes: 1e6, dataDirectory: null, archiveMode: 'on', archiveCommand: 'x',
};

describe('pre-checks name what to change', () => {
  it.each([
    [{ replication: false }, /ALTER ROLE "backup" REPLICATION;/],
    [{ walLevel: 'minimal' }, /wal_level = replica/],
    [{ maxWalSenders: 3, walSendersInUse: 2 }, /Set max_wal_senders = 10/],
    [{ hbaReplicationLines: 0 }, /host    replication  backup/],
  ] as Array<[Partial<ServerSettings>, RegExp]>)('%o', (change, message) => {
    const problems = planPrechecks({ settings: { ...healthy, ...change }, clientMajor: 15, freeBytes: 1e12, skipSpaceCheck: false, clientHost: '10.0.0.1' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it('an old client and a full disk are reported together', () => {
    const problems = planPrechecks({ settings: healthy, clientMajor: 14, freeBytes: 10, skipSpaceCheck: false, clientHost: 'db' });
    expect(problems.map((p) => p.slice(0, 31))).toEqual(['pg_basebackup 14 cannot back up', 'The backup directory has 0.0 MB']);
    expect(planPrechecks({ settings: healthy, clientMajor: 16, freeBytes: 10, skipSpaceCheck: true, clientHost: 'db' })).toEqual([]);
  });
});

describe('pg_basebackup arguments', () => {
  it('compresses with lz4 on a 15 client, gzip before', () => {
    expect(chooseCompression('auto', 15)).toBe('lz4');
    expect(chooseCompression('auto', 14)).toBe('gzip');
    expect(() => chooseCompression('zstd', 14)).toThrow(/cannot compress with zstd/);
    expect(basebackupArgs('/d', 'x', 'lz4', 'fast')).toEqual(['-D', '/d', '--format=tar', '--wal-method=stream', '--compress=client-lz4', '--checkpoint=fast', '--label=x', '--verbose', '--no-password']);
    expect(basebackupArgs('/d', 'x', 'gzip', 'spread')).toContain('--gzip');
  });
  it.each([['base.tar.lz4', 'base'], ['pg_wal.tar', 'wal'], ['backup_manifest', 'manifest'], ['16384.tar.gz', 'tablespace'], ['other', undefined]])('%s is %s', (file, role) => expect(roleOf(file)).toBe(role));
  it('unpacks with the matching filter and never takes owners from the archive', () => {
    expect(tarArgs('lz4', '/t')).toEqual(['-x', '--use-compress-program=lz4', '--no-same-owner', '-f', '-', '-C', '/t']);
    expect(tarArgs('none', '/t')).toEqual(['-x', '--no-same-owner', '-f', '-', '-C', '/t']);
  });
});

describe('recovery settings', () => {
  const base = { id: 'b', restoreCommand: localRestoreCommand("/srv/it's/wal"), standby: undefined, keepArchiving: false, at: new Date('2026-11-30T10:00:00Z') };
  it('a timed recovery promotes, turns archiving off and reads the archive', () => {
    const settings = recoverySettings({ ...base, target: { kind: 'time', value: '2026-11-30T09:00:00.123456Z' } });
    expect(settings).toEqual({
      restore_command: `cp '/srv/it'\\''s/wal/%f' '%p'`,
      recovery_target_timeline: 'latest',
      recovery_target_time: '2026-11-30 09:00:00.123456+00',
      recovery_target_action: 'promote',
      archive_mode: 'off',
    });
    expect(autoConfBlock({ ...base, target: { kind: 'latest' } }, { a: "it's" })).toContain(`a = 'it''s'`);
  });
  it('a standby takes no target; --archive keeps archiving', () => {
    const settings = recoverySettings({ ...base, keepArchiving: true, target: { kind: 'latest' }, standby: { conninfo: 'host=x' } });
    expect(settings).toEqual({ restore_command: expect.any(String), recovery_target_timeline: 'latest', primary_conninfo: 'host=x' });
  });
  it.each([
    [0, 0, 'fetched'],
    [17, 17, 'not in the archive: the end of the archive for recovery'],
    [20, 126, 'the store unreachable: recovery stops instead of ending early'],
    [1, 126, 'a crash of the kit: recovery stops'],
  ])('restore_command through the kit: kit exit %i becomes %i (%s)', (kitExit, shellExit) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-rc-'));
    const fake = path.join(dir, "it's kit.sh");
    writeFileSync(fake, `[ "$1" = wal-fetch ] && [ "$2" = 000000010000000000000003 ] && [ "$3" = pg_wal/RECOVERYXLOG ] && [ "$6" = '/srv/my app' ] || exit 99\nexit ${kitExit}\n`);
    const command = kitRestoreCommand({ node: '/bin/sh', launcher: fake, project: '/srv/my app', environment: 'prod', stopRecoveryOnError: true })
      .replace('%f', '000000010000000000000003').replace('%p', 'pg_wal/RECOVERYXLOG');
    const run = spawnSync('/bin/sh', ['-c', command]);
    rmSync(dir, { recursive: true, force: true });
    expect(run.status).toBe(shellExit);
  });
  it('restore_command through the kit copies what the local archive holds without starting the kit', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-rc-'));
    const fake = path.join(dir, 'kit.sh');
    writeFileSync(fake, 'exit 20\n');
    writeFileSync(path.join(dir, '000000010000000000000003'), 'segment');
    const command = (name: string) => kitRestoreCommand({ node: '/bin/sh', launcher: fake, project: dir, environment: 'default', stopRecoveryOnError: true, localFirst: dir })
      .replace(/%f/g, name).replace(/%p/g, path.join(dir, 'out'));
    expect(spawnSync('/bin/sh', ['-c', command('000000010000000000000003')]).status).toBe(0);
    expect(readFileSync(path.join(dir, 'out'), 'utf8')).toBe('segment');
    // Not local: the kit runs, and its failure stops recovery.
    expect(spawnSync('/bin/sh', ['-c', command('000000010000000000000004')]).status).toBe(126);
    rmSync(dir, { recursive: true, force: true });
  });
  it('quotes conninfo values and never holds a password', () => {
    expect(primaryConninfo({ host: 'db', port: 5432, user: "o'neil", passfile: '/d/.pgpass_primary', applicationName: 'a', params: { sslmode: 'require' } }))
      .toBe(`host='db' port=5432 user='o\\'neil' application_name='a' passfile='/d/.pgpass_primary' sslmode='require'`);
    expect(confValue("a'b")).toBe("'a''b'");
    expect(pgTimestamp('2026-11-30 14:05:00+02')).toBe('2026-11-30 14:05:00+02');
  });
  it('reads why recovery stopped from the server log', () => {
    expect(classifyRecoveryLog('LOG:  redo done\nFATAL:  recovery ended before configured recovery target was reached\nLOG: shut down')).toEqual({ notReached: true, reason: 'recovery ended before configured recovery target was reached' });
    const bad = classifyRecoveryLog('LOG:  invalid value for parameter "recovery_target_time": "x"\nFATAL:  configuration file "/d/postgresql.auto.conf" contains errors');
    expect(bad.notReached).toBe(false);
    expect(bad.reason).toBe('configuration file "/d/postgresql.auto.conf" contains errors: invalid value for parameter "recovery_target_time": "x"');
  });
  it.each([
    ['LOG:  incorrect resource manager data checksum in record at 0/30001A8', { what: 'incorrect resource manager data checksum', lsn: '0/30001A8' }],
    ['LOG:  invalid record length at 0/3000148: wanted 24, got 0', { what: 'invalid record length', lsn: '0/3000148' }],
    ['LOG:  invalid magic number 0000 in log segment 000000010000000000000003, offset 0', { what: 'invalid magic number', segment: '000000010000000000000003' }],
    ['LOG:  redo done at 0/3000110', undefined],
  ])('finds the record recovery could not read: %s', (line, expected) => {
    expect(unreadableRecordIn(`LOG:  starting archive recovery\n${line}\nFATAL:  recovery ended before configured recovery target was reached`)).toEqual(expected);
  });
});

describe('archive alarms', () => {
  const ok: ArchiverFacts = { archiveMode: 'on', archiveCommand: 'x', archivedCount: 5, lastArchivedWal: 'A', lastArchivedTime: '2026-11-30 10:00:00+00', failedCount: 2, lastFailedWal: 'B', lastFailedTime: '2026-11-30 09:00:00+00', currentWal: 'C', ready: 1, walSegmentSize: MB16 };
  it.each([
    [{}, []],
    [{ lastFailedTime: '2026-11-30 11:00:00+00' }, ['WAL_ARCHIVE_STUCK']],
    [{ lastArchivedTime: null, lastArchivedWal: null }, ['WAL_ARCHIVE_STUCK']],
    [{ ready: 40 }, ['WAL_ARCHIVE_STUCK']],
    [{ archiveMode: 'off' }, ['WAL_ARCHIVE_STUCK']],
  ] as Array<[Partial<ArchiverFacts>, string[]]>)('%o alarms %o', (change, codes) => {
    expect(judgeArchive({ ...ok, ...change }, [], { maxReady: 16 }).map((p) => p.code)).toEqual(codes);
  });
  it('a gap alarms with the segments to look for', () => {
    const [problem] = judgeArchive(ok, [{ timeline: 1, from: 'X', to: 'Y', missing: 2 }], { maxReady: 16 });
    expect(problem).toMatchObject({ code: 'WAL_GAP', message: expect.stringContaining('X to Y') });
  });
});

describe('physical retention', () => {
  const entry = (id: string, day: number, start: string) => ({
    id,
    infoPath: `${id}.info`,
    place: 'local' as const,
    info: { type: 'physical', startedAt: `2026-11-${String(day).padStart(2, '0')}T02:00:00.000Z`, wal: { startSegment: start }, server: { walSegmentSize: MB16 } } as unknown as PhysicalInfo,
  });
  const policy = { ...DEFAULT_POLICY, daily: 2, weekly: 0, monthly: 0 };
  const wal = ['000000010000000000000001', '000000010000000000000002', '000000010000000000000005', '000000010000000000000005.00000028.backup', '000000010000000000000006', '000000010000000000000009', '00000002.history'];
  it('keeps the policy\'s backups and removes only the WAL before the oldest kept one', () => {
    const plan = planPhysicalRetention([entry('c', 3, '000000010000000000000009'), entry('b', 2, '000000010000000000000005'), entry('a', 1, '000000010000000000000002')], wal, policy, new Date('2026-11-03T12:00:00Z'), () => undefined);
    expect(plan.decisions.map((d) => [d.id, d.keep])).toEqual([['c', true], ['b', true], ['a', false]]);
    expect(plan.walKeptFrom).toBe('000000010000000000000005');
    expect(plan.wal).toEqual(['000000010000000000000001', '000000010000000000000002']);
  });
  it('a failed verification never counts, and with no backup no WAL goes', () => {
    const plan = planPhysicalRetention([entry('c', 3, '000000010000000000000009'), entry('b', 2, '000000010000000000000005')], wal, policy, new Date('2026-11-03T12:00:00Z'), (id) => (id === 'c' ? 'failed' : undefined));
    expect(plan.decisions.filter((d) => d.keep).map((d) => d.id).sort()).toEqual(['b', 'c']);
    expect(planPhysicalRetention([], wal, policy, new Date(), () => undefined)).toEqual({ decisions: [], wal: [], walKeptFrom: null });
  });
});

describe('tablespaces', () => {
  it('reads tablespace_map, directories with spaces included, and refuses a line it cannot read', () => {
    expect(parseTablespaceMap('16384 /srv/pg/fast\n16390 /mnt/my disk/ts\n')).toEqual([{ oid: '16384', directory: '/srv/pg/fast' }, { oid: '16390', directory: '/mnt/my disk/ts' }]);
    expect(() => parseTablespaceMap('x /srv\n')).toThrow(/cannot read/);
  });
  it.each([
    [['/srv/pg/fast=/srv/new/fast'], [['/srv/pg/fast', '/srv/new/fast']], 0],
    [['16384=/srv/new/fast/'], [['16384', '/srv/new/fast']], 0],
    [['/srv/pg/fast/=/srv/new'], [['/srv/pg/fast', '/srv/new']], 0],
    [['/srv/pg/fast=relative'], [], 1],
    [['fast=/srv/new'], [], 1],
    [['=/srv/new'], [], 1],
  ])('--tablespace-mapping %j', (values, expected, problems) => {
    const found: string[] = [];
    expect([...parseTablespaceMappings(values, found)]).toEqual(expected);
    expect(found).toHaveLength(problems);
  });
});

describe('the WAL range at the end of backup_manifest', () => {
  it('is read whole however long the manifest and its range list are', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'pgkit-manifest-'));
    try {
      const files = Array.from({ length: 2000 }, (_, i) => `{ "Path": "base/1/${i}", "Size": 8192, "Last-Modified": "2026-12-07 10:00:00 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "0badf00d" }`);
      // Many timelines crossed during one backup (a standby that followed many promotions): the
      // list alone is longer than the first window read.
      const ranges = Array.from({ length: 1200 }, (_, i) => `{ "Timeline": ${1200 - i}, "Start-LSN": "0/${(0x3000028 + i).toString(16).toUpperCase()}", "End-LSN": "0/4000100" }`);
      const manifest = path.join(dir, 'backup_manifest');
      writeFileSync(manifest, `{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n${files.join(',\n')}\n],\n"WAL-Ranges": [\n${ranges.join(',\n')}\n],\n"Manifest-Checksum": "ab"}\n`);
      expect(await walRangeOf(manifest)).toEqual({ timeline: 1200, start: '0/3000028', end: '0/4000100' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
