/** The pure parts of MySQL differentials: bounds cut to a column's digits, wall-clock time in a zone, the kit's key order. */
import { describe, expect, it } from 'vitest';
import { MYSQL_BASIS, mySqlKeyOrder, truncateToColumn, wallClockIn } from '../../lib/engines/mysql/differential.js';

describe('MySQL differential bounds', () => {
  it.each([
    ['2026-12-08 01:55:03.123456', 'datetime', '2026-12-08 01:55:03'],
    ['2026-12-08 01:55:03.123456', 'timestamp(3)', '2026-12-08 01:55:03.123'],
    ['2026-12-08 01:55:03.123456', 'datetime(6)', '2026-12-08 01:55:03.123456'],
  ])('%s cut for %s is %s (never later)', (literal, type, expected) => {
    expect(truncateToColumn(literal, type)).toBe(expected);
  });

  it.each([
    ['Europe/Berlin', '2026-07-01 10:00:00.500000', '2026-07-01 12:00:00.500000'],
    ['America/Los_Angeles', '2026-01-01 03:00:00.000001', '2025-12-31 19:00:00.000001'],
  ])('an instant is read in %s as its wall-clock time', (zone, utc, expected) => {
    expect(wallClockIn(zone, utc)).toBe(expected);
  });

  it('accepts TIMESTAMP and DATETIME basis columns only', () => {
    expect(['timestamp', 'datetime(6)', 'TIMESTAMP(3)'].every(MYSQL_BASIS.accepts)).toBe(true);
    expect(['date', 'varchar(20)', 'bigint(20)', 'time(6)'].some(MYSQL_BASIS.accepts)).toBe(false);
  });
});

describe('MySQL key order', () => {
  const table = (types: string[]) => ({ schema: 'd', table: 't', name: '`t`', bytes: 0, primaryKey: types.map((_, i) => `k${i}`), columns: types.map((type, i) => ({ name: `k${i}`, type })) });

  it('orders integers by value and strings by their UTF-8 bytes, not by a collation', () => {
    const ints = mySqlKeyOrder(table(['bigint(20) unsigned']));
    expect(ints.oneInteger).toBe(true);
    expect(['10', '-2', '9', '-10'].map((k) => [k]).sort(ints.compare).flat()).toEqual(['-10', '-2', '9', '10']);
    const text = mySqlKeyOrder(table(['varchar(20)', 'int(11)']));
    expect(text.oneInteger).toBe(false);
    expect([['é', '1'], ['a', '2'], ['B', '1'], ['a', '10'], ['Z', '1']].sort(text.compare)).toEqual([['B', '1'], ['Z', '1'], ['a', '2'], ['a', '10'], ['é', '1']]);
  });
});
