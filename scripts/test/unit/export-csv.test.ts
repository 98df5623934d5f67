import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CsvRecordCounter, CsvToCopyText } from '../../lib/format/csv.js';
import { selectTables } from '../../lib/export/select.js';
import { pageRangeQueries } from '../../lib/engines/postgres/copy.js';
import { rangesFor } from '../../lib/export/export.js';

const SAMPLE = 'id,"we""ird",v\n1,,""\n2,"a,b","line\none"\n3,"\\.\r\n\\N",x\n';

async function convert(text: string, chunkSize: number): Promise<{ out: string; header: string[] | undefined; rows: number }> {
  const chunks: Buffer[] = [];
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const converter = new CsvToCopyText('sample.csv');
  let out = '';
  for await (const chunk of Readable.from(chunks).pipe(converter)) out += (chunk as Buffer).toString();
  return { out, header: converter.header, rows: converter.rows };
}

describe('CSV as COPY writes it', () => {
  it.each([1, 2, 3, 7, 1000])('counts records split into %i-byte chunks, newlines inside quotes excluded', (size) => {
    const counter = new CsvRecordCounter();
    const bytes = Buffer.from(SAMPLE);
    for (let i = 0; i < bytes.length; i += size) counter.push(bytes.subarray(i, i + size));
    expect(counter.total()).toBe(4);
  });

  it.each([1, 2, 5, 1000])('re-encodes CSV as COPY text (NULL \\N, "" empty, escapes), in %i-byte chunks', async (size) => {
    const { out, header, rows } = await convert(SAMPLE, size);
    expect(header).toEqual(['id', 'we"ird', 'v']);
    expect(rows).toBe(3);
    expect(out).toBe('1\t\\N\t\n2\ta,b\tline\\none\n3\t\\\\.\\r\\n\\\\N\tx\n');
  });

  it('refuses a file cut inside a quoted field, and a short record', async () => {
    await expect(convert('a,b\n1,"open\n', 4)).rejects.toThrow(/ends inside a quoted field/);
    await expect(convert('a,b\n1\n', 4)).rejects.toThrow(/row 1: 1 fields where the header has 2/);
  });
});

describe('choosing tables with pg_dump patterns', () => {
  const tables = [
    { schema: 'app', table: 'users' },
    { schema: 'app', table: 'orders' },
    { schema: 'My Schema', table: 'Order Items' },
    { schema: 'archive', table: 'users' },
  ];
  const pick = (scope: Partial<{ tables: string[]; schemas: string[]; excludeTables: string[] }>) =>
    selectTables(tables, { tables: [], schemas: [], excludeTables: [], ...scope });
  it.each([
    [{}, ['app.users', 'app.orders', 'My Schema.Order Items', 'archive.users']],
    [{ tables: ['users'] }, ['app.users', 'archive.users']],
    [{ tables: ['app.*'] }, ['app.users', 'app.orders']],
    [{ tables: ['"My Schema"."Order Items"'] }, ['My Schema.Order Items']],
    [{ tables: ['APP.USERS'] }, ['app.users']],
    [{ schemas: ['app'], excludeTables: ['app.o?ders'] }, ['app.users']],
  ])('%j', (scope, expected) => {
    expect(pick(scope).chosen.map((t) => `${t.schema}.${t.table}`)).toEqual(expected);
  });
  it('names patterns that match nothing', () => {
    expect(pick({ tables: ['nosuch', 'users'], schemas: ['"App"'] }).unmatched).toEqual(['nosuch', '"App"']);
  });
});

describe('a big table copied in ranges of its pages', () => {
  const MB = 1024 * 1024;
  it.each([
    [10 * MB, 4, 15, 1],
    [63 * MB, 4, 15, 1],
    [64 * MB, 4, 15, 2],
    [130 * MB, 4, 15, 4],
    [10_000 * MB, 4, 15, 4],
    [130 * MB, 1, 15, 1],
    [130 * MB, 4, 13, 1],
  ])('%d bytes, --jobs %d, server %d: %d ranges', (bytes, jobs, major, ranges) => {
    expect(rangesFor({ bytes }, jobs, major)).toBe(ranges);
  });

  it('cuts the pages into ranges that cover every page once, the last one open-ended', () => {
    const table = { name: 'app."Order"', columns: [{ name: 'id', type: 'integer' }, { name: 'Note', type: 'text' }], pages: 10 };
    expect(pageRangeQueries(table, 3)).toEqual([
      `(SELECT "id", "Note" FROM ONLY app."Order" WHERE ctid >= '(0,0)'::tid AND ctid < '(4,0)'::tid)`,
      `(SELECT "id", "Note" FROM ONLY app."Order" WHERE ctid >= '(4,0)'::tid AND ctid < '(8,0)'::tid)`,
      `(SELECT "id", "Note" FROM ONLY app."Order" WHERE ctid >= '(8,0)'::tid)`,
    ]);
  });
});
