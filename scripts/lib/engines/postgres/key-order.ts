/**
 * The order of primary keys in a differential chain's key lists, which the server sorts and the
 * kit merges. Both sides must agree on it exactly, so each key column is sorted by something
 * Node can compare the same way from the column's CSV text:
 *  - integers (smallint, integer, bigint): by value, which the primary key's index already
 *    gives (no sort), compared as BigInt;
 *  - uuid: by value, which is the order of the canonical lower-case text;
 *  - anything else: by the text form in the "C" collation, i.e. by its UTF-8 bytes.
 * A composite key compares column by column. Pure.
 */
import { ident } from './quote.js';

export type KeyKind = 'integer' | 'uuid' | 'text';

export interface KeyColumn {
  name: string;
  /** format_type() of the column. */
  type: string;
}

export function keyKind(type: string): KeyKind {
  if (type === 'smallint' || type === 'integer' || type === 'bigint') return 'integer';
  if (type === 'uuid') return 'uuid';
  return 'text';
}

/** `SELECT <list> … ORDER BY <order>` for a table's key columns, in the chain's key order. */
export function keySql(columns: KeyColumn[], alias = ''): { list: string; order: string } {
  const ref = (c: KeyColumn) => `${alias ? `${alias}.` : ''}${ident(c.name)}`;
  return {
    list: columns.map(ref).join(', '),
    order: columns.map((c) => (keyKind(c.type) === 'text' ? `${ref(c)}::text COLLATE "C"` : ref(c))).join(', '),
  };
}

/** Two integers' decimal texts as PostgreSQL writes them (no leading zeros, `-` for negatives). */
export function compareIntegerText(a: string, b: string): number {
  const negA = a.charCodeAt(0) === 45;
  const negB = b.charCodeAt(0) === 45;
  if (negA !== negB) return negA ? -1 : 1;
  const byMagnitude = a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return negA ? -byMagnitude : byMagnitude;
}

function compareField(kind: KeyKind, a: string, b: string): number {
  if (kind === 'integer') return Math.sign(compareIntegerText(a, b));
  if (kind === 'uuid') return a < b ? -1 : a > b ? 1 : 0;
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** A comparator of two keys (their fields' texts) in the chain's key order. */
export function keyComparator(columns: KeyColumn[]): (a: string[], b: string[]) => number {
  const kinds = columns.map((c) => keyKind(c.type));
  return (a, b) => {
    for (let i = 0; i < kinds.length; i++) {
      const c = compareField(kinds[i]!, a[i]!, b[i]!);
      if (c !== 0) return c;
    }
    return 0;
  };
}
