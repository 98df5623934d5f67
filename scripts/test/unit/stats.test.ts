import { describe, expect, it } from 'vitest';
import { DumpStatsCollector, parseCopyTarget, parseSetval, readQualifiedName } from '../../lib/engines/postgres/dump-stats.js';
import { howScriptEnds } from '../../lib/engines/postgres/artifacts.js';

const DUMP = [
  '--',
  '-- PostgreSQL database dump',
  '--',
  'SET statement_timeout = 0;',
  'CREATE TABLE public."Order Items" (id integer, "select" text);',
  'COPY public."Order Items" (id, "select") FROM stdin;',
  '1\tone\\nline',
  '2\t\\\\.',
  '3\t\\N',
  '\\.',
  '',
  'COPY app.empty (id) FROM stdin;',
  '\\.',
  '',
  'COPY "we""ird"."t (x" (a) FROM stdin;',
  'x',
  '\\.',
  "SELECT pg_catalog.setval('public.\"it''s seq\"', 42, true);",
  "SELECT pg_catalog.setval('app.fresh', 1, false);",
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
].join('\n');

function collect(chunks: Buffer[]) {
  const c = new DumpStatsCollector();
  for (const chunk of chunks) c.push(chunk);
  return c.finish();
}

describe('statistics from the plain dump stream', () => {
  const whole = collect([Buffer.from(DUMP)]);

  it('counts rows per table, including empty tables and awkward names', () => {
    expect(Object.fromEntries(Object.entries(whole.tables).map(([k, v]) => [k, v.rows]))).toEqual({
      'public."Order Items"': 3,
      'app.empty': 0,
      '"we""ird"."t (x"': 1,
    });
    expect(whole.complete).toBe(true);
    expect(whole.sequences).toEqual({ 'public."it\'s seq"': { value: '42', isCalled: true }, 'app.fresh': { value: '1', isCalled: false } });
  });

  it('gives the same result however the stream is split into chunks', () => {
    const bytes = Buffer.from(DUMP);
    for (const size of [1, 2, 3, 7, 64]) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      expect(collect(chunks), `chunks of ${size}`).toEqual(whole);
    }
  });

  it('ignores row order but notices any changed, added or removed row', () => {
    const fp = (rows: string[]) => collect([Buffer.from(`COPY t (a) FROM stdin;\n${rows.join('\n')}\n\\.\n`)]).tables.t!;
    expect(fp(['a', 'b', 'c'])).toEqual(fp(['c', 'a', 'b']));
    expect(fp(['a', 'b', 'c']).fingerprint).not.toBe(fp(['a', 'b', 'd']).fingerprint);
    expect(fp(['a', 'b']).fingerprint).not.toBe(fp(['a', 'b', 'b']).fingerprint);
    expect(fp(['ab', 'c']).fingerprint).not.toBe(fp(['a', 'bc']).fingerprint);
  });

  it('reports a stream cut short as incomplete', () => {
    expect(collect([Buffer.from(DUMP.slice(0, DUMP.indexOf('3\t')))]).complete).toBe(false);
    expect(collect([Buffer.from(DUMP.replace('-- PostgreSQL database dump complete', ''))]).complete).toBe(false);
  });

  it.each([
    ['COPY public.users (id) FROM stdin;', 'public.users'],
    ['COPY "My Schema"."Order Items" ("Item ID") FROM stdin;', '"My Schema"."Order Items"'],
    ['COPY public.nocols  FROM stdin;', 'public.nocols'],
  ])('reads the table of %s', (line, name) => {
    expect(parseCopyTarget(line)).toBe(name);
  });

  it('rejects an unterminated quoted name and a malformed setval', () => {
    expect(readQualifiedName('"open', 0)).toBeUndefined();
    expect(parseSetval("SELECT pg_catalog.setval('x', abc, true);")).toBeUndefined();
  });
});

describe('statistics of a table at PostgreSQL\'s limits', () => {
  it('counts the rows of a 1,600-column table whose COPY line is 100 KB, and sees the trailer', () => {
    const columns = Array.from({ length: 1600 }, (_, i) => `c${String(i).padStart(62, '0')}`);
    const dump = [
      `COPY public.wide (${columns.join(', ')}) FROM stdin;`,
      columns.map(() => '\\N').join('\t'),
      columns.map((_, i) => String(i)).join('\t'),
      '\\.',
      'COPY public.after (id) FROM stdin;',
      '1',
      '\\.',
      '--',
      '-- PostgreSQL database dump complete',
      '--',
      '',
    ].join('\n');
    const stats = collect([Buffer.from(dump)]);
    expect(Object.fromEntries(Object.entries(stats.tables).map(([k, v]) => [k, v.rows]))).toEqual({ 'public.wide': 2, 'public.after': 1 });
    expect(stats.complete).toBe(true);
  });
});

describe('why a script is not whole, in words', () => {
  const ending = (text: string) => howScriptEnds(collect([Buffer.from(text)]));

  it.each([
    ['a statement cut off', 'SELECT 1;\nCREATE TABLE t (a int', /its last 21 B \(from byte 10 of 31 B of SQL\) are a statement, string or comment that never ends/],
    ['a string never closed', "SELECT 'abc;\n", /its last 13 B \(from byte 0 of 13 B of SQL\)/],
    ['rows cut off', 'COPY t (a) FROM stdin;\n1\n2\n', /it stops inside a table's rows \(27 B of SQL\), so it was cut short/],
    ['whole statements, no trailer', 'SELECT 1;\n', /every statement in its 10 B of SQL ends, but pg_dump's completion trailer .* is missing/],
  ])('%s', (_, text, message) => {
    expect(ending(text)).toMatch(message);
  });
});
