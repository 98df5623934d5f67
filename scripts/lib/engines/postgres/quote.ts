/** Quoting for the few statements the kit builds itself (names it did not choose, text it did not write). */

/** A SQL identifier: "name", with embedded quotes doubled. */
export function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A SQL string literal: 'text', with embedded quotes doubled. */
export function literal(text: string): string {
  return `'${text.replace(/'/g, "''")}'`;
}
