import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CsvRecordSplitter } from '../../lib/format/csv-records.js';
import { compareIntegerText, keyComparator, keySql } from '../../lib/engines/postgres/key-order.js';
import { writeDeletedKeys, writeIntegerKeyUnion, writeKeyUnion } from '../../lib/export/key-merge.js';
import { decideChain, judgeTables } from '../../lib/export/chain.js';
import type { SnapshotTable } from '../../lib/engines/postgres/snapshot.js';

/** The bytes in chunks of `size`, as a stream would deliver them. */
async function* chunks(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text, 'utf8');
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function deleted(previous: string, current: string, types: string[], size = 3): Promise<{ n: number; out: string }> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const columns = types.map((type, i) => ({ name: `k${i}`, type }));
  const n = await writeDeletedKeys(chunks(previous, size), chunks(current, size), keyComparator(columns), out, { previous: 'previous', current: 'current' });
  return { n, out: text };
}

describe('differential key lists', () => {
  it.each([
    ['1', '2', -1],
    ['9', '10', -1],
    ['-10', '-9', -1],
    ['-1', '0', -1],
    ['9223372036854775807', '-9223372036854775808', 1],
    ['42', '42', 0],
  ])('orders integers by value: %s vs %s', (a, b, want) => {
    expect(Math.sign(compareIntegerText(a, b))).toBe(want);
  });

  it('splits CSV records across any chunk boundary, quotes, newlines and multibyte characters included', () => {
    const text = 'k,n\n"a,b",1\n"q""uote",2\n"new\nline",3\né,1\n🙂,2\n';
    for (const size of [1, 2, 5, 64]) {
      const splitter = new CsvRecordSplitter();
      const bytes = Buffer.from(text);
      const got = [];
      for (let i = 0; i < bytes.length; i += size) got.push(...splitter.push(bytes.subarray(i, i + size)));
      got.push(...splitter.end());
      expect(got.map((r) => r.fields)).toEqual([['k', 'n'], ['a,b', '1'], ['q"uote', '2'], ['new\nline', '3'], ['é', '1'], ['🙂', '2']]);
      expect(got.map((r) => r.text).join('')).toBe(text);
    }
  });

  it('finds the keys that disappeared, streaming both lists, for composite text keys', async () => {
    const previous = 'k,n\nZ,9\nZ,10\na,1\n"a,b",1\n"new\nline",3\né,1\n';
    const current = 'k,n\nZ,9\na,1\n"a,b",1\n"a,b",2\né,1\n🙂,0\n';
    // keys order by text in the C collation: 'Z' < 'a' < 'é'; "10" < "9" as text
    const result = await deleted('k,n\nZ,10\nZ,9\na,1\n"a,b",1\n"new\nline",3\né,1\n', current, ['text', 'text']);
    expect(result).toEqual({ n: 2, out: 'k,n\nZ,10\n"new\nline",3\n' });
    await expect(deleted(previous, current, ['text', 'text'])).rejects.toThrow(/previous is not in the chain's key order/);
  });

  it('integer keys merge by value; nothing deleted writes only the header', async () => {
    expect(await deleted('id\n-5\n2\n10\n11\n', 'id\n-5\n2\n10\n11\n12\n', ['bigint'])).toEqual({ n: 0, out: 'id\n' });
    expect(await deleted('id\n-5\n2\n10\n11\n', 'id\n2\n11\n', ['integer'], 1)).toEqual({ n: 2, out: 'id\n-5\n10\n' });
  });

  it('joins the previous key list with the changed keys, on bytes for one integer key as on text', async () => {
    const previous = 'id\n-7\n2\n10\n99\n100\n';
    const changed = 'id\n-9\n2\n11\n100\n1000\n';
    const want = 'id\n-9\n-7\n2\n10\n11\n99\n100\n1000\n';
    for (const size of [1, 3, 1 << 16]) {
      for (const bytes of [true, false]) {
        const out = new PassThrough();
        let text = '';
        out.on('data', (c: Buffer) => (text += c.toString()));
        const names = { previous: 'previous', changed: 'changed' };
        const n = bytes
          ? await writeIntegerKeyUnion(chunks(previous, size), chunks(changed, size), out, names)
          : await writeKeyUnion(chunks(previous, size), chunks(changed, size), keyComparator([{ name: 'id', type: 'integer' }]), out, names);
        expect({ n, text }).toEqual({ n: 8, text: want });
      }
    }
  });

  it('sorts text-like keys by their text in the C collation, integers and uuids by the index', () => {
    expect(keySql([{ name: 'id', type: 'bigint' }, { name: 'Name', type: 'text' }, { name: 'u', type: 'uuid' }])).toEqual({
      list: '"id", "Name", "u"',
      order: '"id", "Name"::text COLLATE "C", "u"',
    });
  });

  const table = (name: string, columns: Array<[string, string]>, primaryKey: string[]): SnapshotTable => ({
    oid: 1, schema: 'app', table: name, name: `app.${name}`, columns: columns.map(([n, type]) => ({ name: n, type })), primaryKey, bytes: 0,
  });

  it('judges every table at once and decides when a chain must start again', () => {
    const tables = [
      table('ok', [['id', 'integer'], ['updated_at', 'timestamp with time zone']], ['id']),
      table('local', [['id', 'integer'], ['changed', 'timestamp without time zone']], ['id']),
      table('texty', [['id', 'integer'], ['updated_at', 'text']], ['id']),
      table('nokey', [['updated_at', 'timestamp with time zone']], []),
      table('none', [['id', 'integer']], ['id']),
    ];
    const judged = judgeTables(tables, { basis: { 'app.local': 'changed', 'app.gone': 'x' } });
    expect([...judged.suitable.keys()]).toEqual(['app.ok', 'app.local']);
    expect(judged.unsuitable.map((u) => u.table)).toEqual(['app.texty', 'app.nokey', 'app.none']);
    expect(judged.unknown).toEqual(['app.gone']);
    expect(decideChain(undefined, { tables, judged, timeZone: 'UTC', maxChain: 7, newChain: false }).reason).toMatch(/no earlier chain/);
  });
});
