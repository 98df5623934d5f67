import { describe, expect, it } from 'vitest';
import { detectFormat, formatIsReadable, parseArchiveHeader, pgRestoreNeededFor } from '../../lib/format/archive.js';
import { parseTocLine } from '../../lib/engines/postgres/artifacts.js';

/** A custom-format header as pg_dump writes it (4-byte ints: a sign byte, then low byte first). */
function header(version: [number, number, number], strings: Array<string | undefined>): Buffer {
  const int = (n: number) => Buffer.from([n < 0 ? 1 : 0, Math.abs(n) & 0xff, (Math.abs(n) >> 8) & 0xff, (Math.abs(n) >> 16) & 0xff, (Math.abs(n) >> 24) & 0xff]);
  const str = (s: string | undefined) => (s === undefined ? int(-1) : Buffer.concat([int(Buffer.byteLength(s)), Buffer.from(s)]));
  const [major, minor] = version;
  const compression = major > 1 || minor >= 15 ? Buffer.from([0]) : int(-1);
  const created = Buffer.concat([0, 30, 14, 21, 10, 126, 0].map(int));
  return Buffer.concat([Buffer.from('PGDMP'), Buffer.from([...version, 4, 8, 1]), compression, created, ...strings.map(str)]);
}

describe('archive headers', () => {
  it.each([
    [[1, 14, 0], ['app', '15.18', '15.18 (Debian 15.18-0+deb12u1)'], { databaseName: 'app', serverVersion: '15.18', pgDumpVersion: '15.18 (Debian 15.18-0+deb12u1)' }],
    [[1, 15, 0], ['shop', '16.4', '16.4'], { databaseName: 'shop', serverVersion: '16.4', pgDumpVersion: '16.4' }],
    [[1, 16, 0], ['ünïcode', '17.0', '17.0'], { databaseName: 'ünïcode', serverVersion: '17.0', pgDumpVersion: '17.0' }],
    [[1, 9, 0], ['old'], { databaseName: 'old', serverVersion: undefined, pgDumpVersion: undefined }],
  ] as const)('format %j with %j', (version, strings, expected) => {
    expect(parseArchiveHeader(header([...version], [...strings]))).toEqual({ formatVersion: version, ...expected });
  });

  it.each([
    ['not an archive', Buffer.from('-- PostgreSQL database dump\n')],
    ['too short', Buffer.from('PGDMP\x01')],
  ])('returns nothing for %s', (_name, buf) => {
    expect(parseArchiveHeader(buf)).toBeUndefined();
  });

  it('a header cut inside its strings leaves what it could not read undefined', () => {
    const full = header([1, 14, 0], ['app', '15.18', '15.18']);
    expect(parseArchiveHeader(full.subarray(0, full.length - 3))).toEqual({ formatVersion: [1, 14, 0], databaseName: 'app', serverVersion: '15.18', pgDumpVersion: undefined });
  });

  it.each([
    ['custom archive', header([1, 14, 0], ['a', 'b', 'c']), 'dump'],
    ['tar archive', Buffer.concat([Buffer.alloc(257), Buffer.from('ustar'), Buffer.alloc(250)]), 'tar'],
    ['gzip', Buffer.from([0x1f, 0x8b, 8, 0]), 'sql.gz'],
    ['plain dump', Buffer.from('--\n-- PostgreSQL database dump\n--\n\nSET statement_timeout = 0;\n'), 'sql'],
    ['binary junk', Buffer.from([0, 1, 2, 3, 0, 0]), undefined],
  ])('detects a %s', (_name, head, format) => {
    expect(detectFormat(head)).toBe(format);
  });

  it.each([
    [[1, 14, 0], 15, true, 12],
    [[1, 15, 0], 15, false, 16],
    [[1, 15, 0], 16, true, 16],
    [[1, 16, 0], 16, false, 17],
    [[1, 99, 0], 18, true, undefined],
  ] as const)('format %j with pg_restore %i: readable %s, needs %s', (format, major, readable, needed) => {
    expect(formatIsReadable([...format], major)).toBe(readable);
    expect(pgRestoreNeededFor([...format])).toBe(needed);
  });
});

describe('pg_restore --list lines', () => {
  it.each([
    ['3370; 0 16590 TABLE DATA public users postgres', { id: 3370, desc: 'TABLE DATA', namespace: 'public', tag: 'users', owner: 'postgres' }],
    ['215; 1259 16385 TABLE public orders app', { id: 215, desc: 'TABLE', namespace: 'public', tag: 'orders', owner: 'app' }],
    ['3; 3079 16400 EXTENSION - pgcrypto ', { id: 3, desc: 'EXTENSION', namespace: '-', tag: 'pgcrypto', owner: '' }],
    ['230; 1255 16420 FUNCTION public add(integer, integer) app', { id: 230, desc: 'FUNCTION', namespace: 'public', tag: 'add(integer, integer)', owner: 'app' }],
    ['240; 2606 16430 FK CONSTRAINT public orders orders_user_fkey app', { id: 240, desc: 'FK CONSTRAINT', namespace: 'public', tag: 'orders orders_user_fkey', owner: 'app' }],
    ['250; 1259 16440 MATERIALIZED VIEW DATA public totals app', { id: 250, desc: 'MATERIALIZED VIEW DATA', namespace: 'public', tag: 'totals', owner: 'app' }],
    ['3400; 0 0 SEQUENCE SET public orders_id_seq app', { id: 3400, desc: 'SEQUENCE SET', namespace: 'public', tag: 'orders_id_seq', owner: 'app' }],
  ])('%s', (line, entry) => {
    expect(parseTocLine(line)).toEqual(entry);
  });

  it.each([[';'], [';\n; Archive created at 2026-11-21 14:30:22 UTC'], ['']])('ignores comment line %j', (line) => {
    expect(parseTocLine(line)).toBeUndefined();
  });
});
