/** `name` as a MySQL identifier: in backticks, a backtick doubled. Pure. */
export function quoteMySqlIdentifier(name: string): string {
  if (name.includes('\0')) throw new Error('an identifier cannot contain a NUL character');
  return '`' + name.replace(/`/g, '``') + '`';
}
