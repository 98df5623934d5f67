/**
 * Which of a backup's tables and large objects a partial restore touches, decided from the
 * backup's own names before anything changes. Pure.
 *
 * `--table` takes pg_dump's pattern syntax (the same as db:backup and db:export): `schema.table`,
 * `"Quoted Names"` taken exactly, `*` and `?` as wildcards. pg_restore's own `-t` matches a bare
 * table name in any schema, so the kit never passes the pattern on: it picks the archive's data
 * entries of exactly the chosen tables and hands pg_restore that list.
 */
import { KitError } from '../errors.js';
import { parseTablePattern, selectTables, type CatalogTable } from '../export/select.js';
import type { TocEntry } from './source.js';

interface NamedTable extends CatalogTable {
  /** As the backup's statistics name it: `"Billing Dept"."Invoice Lines"`. */
  qualified: string;
}

/** `"Billing Dept"."a.b ""c"""` → schema `Billing Dept`, table `a.b "c"`. */
export function splitQualifiedName(qualified: string): CatalogTable {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (let i = 0; i < qualified.length; i++) {
    const c = qualified[i]!;
    if (c === '"' && quoted && qualified[i + 1] === '"') {
      current += '"';
      i++;
    } else if (c === '"') {
      quoted = !quoted;
    } else if (c === '.' && !quoted) {
      parts.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  parts.push(current);
  return { schema: parts.length > 1 ? parts.at(-2)! : 'public', table: parts.at(-1)! };
}

function named(archiveTables: string[]): NamedTable[] {
  return archiveTables.map((qualified) => ({ ...splitQualifiedName(qualified), qualified }));
}

/**
 * The backup's tables the patterns choose (qualified, quotable names, in the backup's order).
 * A pattern that matches nothing is refused, naming what the backup holds. An unqualified
 * pattern matching tables of several schemas is refused too: restoring `log` must not quietly
 * replace both `audit.log` and `public.log`; `*.log` says so on purpose.
 */
export function chooseTables(archiveTables: string[], patterns: string[]): string[] {
  const tables = named(archiveTables);
  const matches = new Map(patterns.map((p) => [p, selectTables(tables, { tables: [p], schemas: [], excludeTables: [] }).chosen]));
  const scope = (p: string) => matches.get(p)!;
  const unmatched = patterns.filter((p) => scope(p).length === 0);
  if (unmatched.length) {
    throw new KitError('NOTHING_MATCHED', `${unmatched.map((p) => `--table ${p}`).join(', ')} ${unmatched.length > 1 ? 'match' : 'matches'} no table of the backup (it holds ${archiveTables.join(', ') || 'no tables'}). Patterns are schema.table, "Quoted" for exact names, * and ? as wildcards. Nothing was changed.`);
  }
  for (const p of patterns) {
    const matched = scope(p);
    if (parseTablePattern(p).schema === undefined && new Set(matched.map((t) => t.schema)).size > 1) {
      const names = matched.map((t) => t.qualified);
      throw new KitError('BAD_ARGUMENT', `--table ${p} names tables in more than one schema (${names.join(', ')}). Name the one you mean (--table ${names[0]}), or all of them on purpose (--table '*.${p}'). Nothing was changed.`);
    }
  }
  const chosen = new Set(patterns.flatMap(scope));
  return tables.filter((t) => chosen.has(t)).map((t) => t.qualified);
}

/**
 * The dump ids of the chosen tables' data entries. pg_restore --list separates schema, name and
 * owner with single spaces that names may hold too, so an entry is read against the backup's own
 * names (an owner's name is taken to hold no space when that settles it); an entry two of them
 * could still explain, or a chosen table with no entry, is refused rather than guessed.
 */
export function dataEntryIds(toc: TocEntry[], archiveTables: string[], chosen: string[]): number[] {
  const byText = new Map<string, NamedTable[]>();
  for (const t of named(archiveTables)) byText.set(`${t.schema} ${t.table}`, [...(byText.get(`${t.schema} ${t.table}`) ?? []), t]);
  const wantedNames = new Set(chosen);
  const found = new Map<string, number>();
  for (const entry of toc.filter((e) => e.desc === 'TABLE DATA')) {
    const text = `${entry.namespace} ${entry.tag} ${entry.owner}`;
    // the tables whose "schema name" is the text up to one of its spaces
    let readers = [...text.matchAll(/ /g)].flatMap((space) => byText.get(text.slice(0, space.index)) ?? []);
    // `a b c postgres` is a."b c" owned by postgres, not a.b owned by "c postgres"
    if (readers.length > 1) readers = readers.filter((t) => !text.slice(`${t.schema} ${t.table} `.length).includes(' '));
    const wanted = readers.filter((t) => wantedNames.has(t.qualified));
    if (wanted.length === 0) continue;
    if (readers.length > 1) {
      throw new KitError('UNSUPPORTED_MODE', `The archive's table of contents cannot tell ${readers.map((t) => t.qualified).join(' and ')} apart (their names hold spaces). Restore the whole backup into a scratch database and copy the table from there. Nothing was changed.`);
    }
    found.set(wanted[0]!.qualified, entry.id);
  }
  const missing = chosen.filter((t) => !found.has(t));
  if (missing.length) {
    throw new KitError('MISSING_TABLES', `The archive holds no data entry for ${missing.join(', ')}, although its statistics list ${missing.length > 1 ? 'them' : 'it'}. Nothing was changed.`);
  }
  return chosen.map((t) => found.get(t)!);
}

/** The OIDs of the large objects an archive holds (pg_dump lists each as `BLOB - <oid> <owner>`). */
export function largeObjectOids(toc: TocEntry[]): string[] {
  return toc.filter((e) => (e.desc === 'BLOB' || e.desc === 'LARGE OBJECT') && /^\d+$/.test(e.tag)).map((e) => e.tag);
}
