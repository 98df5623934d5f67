/**
 * Which tables an export takes: pg_dump's pattern syntax (`--table`, `--schema`,
 * `--exclude-table`), applied to the catalog the export read from its snapshot. Pure.
 *
 * A pattern is `name` or `schema.name`; outside double quotes letters fold to lower case and `*`
 * and `?` are wildcards; inside double quotes every character is itself (`""` is one quote).
 */

export interface CatalogTable {
  schema: string;
  table: string;
}

interface Pattern {
  schema: RegExp | undefined;
  name: RegExp;
}

function partToRegex(part: string): RegExp {
  let out = '';
  let quoted = false;
  for (let i = 0; i < part.length; i++) {
    const c = part[i]!;
    if (c === '"') {
      if (quoted && part[i + 1] === '"') {
        out += '"';
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (!quoted && c === '*') {
      out += '.*';
    } else if (!quoted && c === '?') {
      out += '.';
    } else {
      out += (quoted ? c : c.toLowerCase()).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^(?:${out})$`, 's');
}

/** Split at dots outside double quotes. */
function splitDots(pattern: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const c of pattern) {
    if (c === '"') quoted = !quoted;
    if (c === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return parts;
}

export function parseTablePattern(pattern: string): Pattern {
  const parts = splitDots(pattern);
  if (parts.length === 1) return { schema: undefined, name: partToRegex(parts[0]!) };
  // database.schema.table: the database part is ignored, as pg_dump does for the current one
  return { schema: partToRegex(parts.at(-2)!), name: partToRegex(parts.at(-1)!) };
}

function matchesTable(t: CatalogTable, pattern: string): boolean {
  const p = parseTablePattern(pattern);
  return p.name.test(t.table) && (p.schema === undefined || p.schema.test(t.schema));
}

function matchesSchema(t: CatalogTable, pattern: string): boolean {
  return partToRegex(pattern).test(t.schema);
}

export interface Selection<T extends CatalogTable> {
  chosen: T[];
  /** Patterns of --table/--schema that matched nothing. */
  unmatched: string[];
}

export function selectTables<T extends CatalogTable>(tables: T[], scope: { tables: string[]; schemas: string[]; excludeTables: string[] }): Selection<T> {
  const unmatched = [
    ...scope.tables.filter((p) => !tables.some((t) => matchesTable(t, p))),
    ...scope.schemas.filter((p) => !tables.some((t) => matchesSchema(t, p))),
  ];
  const chosen = tables.filter((t) => {
    if (scope.excludeTables.some((p) => matchesTable(t, p))) return false;
    // As pg_dump: --table chooses tables whatever --schema says; --schema alone chooses schemas.
    if (scope.tables.length) return scope.tables.some((p) => matchesTable(t, p));
    if (scope.schemas.length) return scope.schemas.some((p) => matchesSchema(t, p));
    return true;
  });
  return { chosen, unmatched };
}

/** `"My Schema"."Order Items"` as a pg_dump pattern that matches exactly that table. */
export function exactPattern(t: CatalogTable): string {
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  return `${q(t.schema)}.${q(t.table)}`;
}
