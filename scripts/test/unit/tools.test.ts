import { describe, expect, it } from 'vitest';
import { candidateDirs, chooseTool, parseToolVersion } from '../../lib/engines/postgres/tools.js';
import { majorOf } from '../../lib/engines/postgres/connect.js';
import { formatDuration, progressLine } from '../../lib/cli/progress.js';
import { errorCodeTable } from '../../lib/errors.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';

describe('PostgreSQL client tools', () => {
  it.each([
    ['pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)', { version: '15.18', major: 15 }],
    ['pg_dump (PostgreSQL) 17.0', { version: '17.0', major: 17 }],
    ['pg_dump (PostgreSQL) 18devel', { version: '18', major: 18 }],
    ['pg_dump (PostgreSQL) 9.6.24', { version: '9.6.24', major: 9.6 }],
    ['something else', undefined],
  ])('reads the version of %j', (output, expected) => {
    expect(parseToolVersion(output)).toEqual(expected);
  });

  const c = (major: number) => ({ dir: `/v${major}`, version: `${major}.1`, major });
  it.each([
    [[c(13), c(15), c(17)], 15, 15],
    [[c(13), c(17), c(16)], 15, 17],
    [[c(13), c(14)], 15, undefined],
    [[], 15, undefined],
  ])('from %j for server %i picks %s', (candidates, server, major) => {
    expect(chooseTool(candidates, server)?.major).toBe(major);
  });

  it('looks only in PG_BIN when it is set', () => {
    expect(candidateDirs({ PG_BIN: '/opt/pg/bin', PATH: '/usr/bin' })).toEqual(['/opt/pg/bin']);
    expect(candidateDirs({ PATH: '/a:/b:/a' }).slice(0, 2)).toEqual(['/a', '/b']);
    // the server's own major version is tried before PATH (Debian's PATH pg_dump is a wrapper)
    expect(candidateDirs({ PATH: '/usr/bin' }, undefined, 15)[0]).toBe('/usr/lib/postgresql/15/bin');
  });

  it.each([
    [150018, 15],
    [170002, 17],
    [90624, 9.6],
  ])('server_version_num %i is major %s', (num, major) => {
    expect(majorOf(num)).toBe(major);
  });
});

describe('progress text', () => {
  it.each([
    [0, '0:00'],
    [61_000, '1:01'],
    [3_725_000, '1:02:05'],
  ])('%i ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('shows elapsed, bytes, rate and an ETA from the estimate', () => {
    expect(progressLine({ phase: 'dumping', bytes: 10_000_000, estimate: 30_000_000 }, 10_000)).toBe('dumping | 0:10 | 10.0 MB | 1.0 MB/s | ETA 0:20');
    expect(progressLine({ phase: 'connecting', bytes: 0 }, 1_000)).toBe('connecting | 0:01');
  });
});

describe('exit codes', () => {
  it('every error code and its exit status is documented in docs/reference/exit-codes.md', () => {
    const page = readFileSync(path.resolve(import.meta.dirname, '../../../docs/reference/exit-codes.md'), 'utf8');
    for (const { code, exit } of errorCodeTable()) {
      expect(page, code).toMatch(new RegExp(`\\|\\s*${exit}\\s*\\|[^\\n]*\`${code}\``));
    }
  });
});
