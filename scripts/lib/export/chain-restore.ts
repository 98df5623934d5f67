/**
 * Restoring a differential chain: the chain's full export is loaded as any import loads it, then,
 * in the same transaction, each differential in order: its deleted keys are removed, its changed
 * rows are upserted on the primary key (`INSERT … ON CONFLICT (pk) DO UPDATE`), and each table's
 * row count is checked against the count the differential recorded at its snapshot. Triggers and
 * foreign-key checks are off while the rows change (the differential already holds what triggers
 * did at the source) and every foreign key is checked at the end, before COMMIT.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { KitError } from '../errors.js';
import { CsvToCopyText } from '../format/csv.js';
import type { ExportTable } from '../format/export-metadata.js';
import { ident, literal } from '../engines/postgres/quote.js';
import type { Reporter } from '../context.js';
import type { ChainMember } from './chain.js';
import { chainLinks, linkChain } from './chain-links.js';
import { sequencesSql, streamFile, write, type LoadedCopy } from './load.js';
import { openExport, type ExportSource } from './source.js';

/**
 * The differentials of `base`'s chain from the first up to `until` (an id, or "latest"): every
 * export beside it that claims a place in the chain is judged and linked, so a missing, damaged,
 * edited or misplaced link refuses the import instead of ending the chain early.
 */
export async function chainUntil(base: ExportSource, until: string): Promise<ChainMember[]> {
  const meta = base.metadata;
  if (!meta.chain || meta.chain.position !== 0) {
    const what = meta.chain ? `a differential (${meta.chain.position} of the chain of ${meta.chain.base})` : 'not the start of a differential chain (it was taken without --differential)';
    throw new KitError('CHAIN_BROKEN', `${meta.id} is ${what}. Give the chain's full export and --until: pnpm db:import -- ${meta.chain?.base ?? '<full export>'} --until ${until}`);
  }
  const where = path.dirname(base.location);
  return linkChain(meta.id, await chainLinks(where, meta.id), until, where);
}

/** Open every differential to apply (each one's listed files must be there before anything starts). */
export async function openChain(members: ChainMember[]): Promise<ExportSource[]> {
  const opened: ExportSource[] = [];
  try {
    for (const m of members) opened.push(await openExport(m.location, path.dirname(m.location), path.dirname(m.location)));
  } catch (error) {
    for (const s of opened) s.close();
    throw error;
  }
  return opened;
}

const names = (columns: string[]) => columns.map(ident).join(', ');

/** The SQL around one table of one differential; `rows` and `keys` mark where each file's COPY data goes. */
export function tableSteps(t: ExportTable, differential: string, tag: string): { deletes: string; upsert: string; check: string } {
  const chain = t.chain!;
  const cols = names(t.columns.map((c) => c.name));
  const pk = names(chain.primaryKey);
  const others = t.columns.map((c) => c.name).filter((c) => !chain.primaryKey.includes(c));
  const fail = (what: string) => `RAISE EXCEPTION '%', ${literal(`pg-backup-kit: ${t.name} in ${differential}: `)} || ${what}`;
  // An extension's configuration table: only the rows its filter keeps are the chain's.
  const rowsOfTable = t.extensionFilter ? `${t.name} ${t.extensionFilter}` : `ONLY ${t.name}`;
  const deletes =
    chain.mode === 'full'
      ? `DELETE FROM ${rowsOfTable};\n`
      : `CREATE TEMPORARY TABLE kit_keys AS SELECT ${pk} FROM ONLY ${t.name} WITH NO DATA;\nCOPY pg_temp.kit_keys (${pk}) FROM STDIN;\n`;
  const deleteSql =
    chain.mode === 'full'
      ? ''
      : `DELETE FROM ONLY ${t.name} AS x USING pg_temp.kit_keys AS k WHERE ${chain.primaryKey.map((c) => `x.${ident(c)} = k.${ident(c)}`).join(' AND ')};
  GET DIAGNOSTICS ${tag} = ROW_COUNT;
  IF ${tag} <> ${chain.deleted?.rows ?? 0} THEN ${fail(`format('%s of its ${chain.deleted?.rows ?? 0} deleted keys were present: the chain does not fit this database', ${tag})`)}; END IF;`;
  const upsert =
    chain.mode === 'full'
      ? `COPY ${t.name} (${cols}) FROM STDIN;\n`
      : `CREATE TEMPORARY TABLE kit_rows AS SELECT ${cols} FROM ONLY ${t.name} WITH NO DATA;\nCOPY pg_temp.kit_rows (${cols}) FROM STDIN;\n`;
  // A GENERATED ALWAYS identity column takes its value on insert (OVERRIDING SYSTEM VALUE) but
  // can only be updated to DEFAULT, and the source could not have changed it either: the update
  // sets every other column, chosen from the target's catalog when the statement runs.
  const upsertSql =
    chain.mode === 'full'
      ? ''
      : `SELECT string_agg(format('%1$I = EXCLUDED.%1$I', a.attname), ', ' ORDER BY a.attnum) INTO ${tag}_set
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid = ${literal(t.name)}::regclass AND a.attname = ANY (${literal(`{${others.map((c) => `"${c.replace(/(["\\])/g, '\\$1')}"`).join(',')}}`)}::text[]) AND a.attidentity <> 'a';
  EXECUTE format('INSERT INTO %s AS x (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM pg_temp.kit_rows ON CONFLICT (%s) DO %s',
    ${literal(t.name)}, ${literal(cols)}, ${literal(cols)}, ${literal(pk)}, coalesce('UPDATE SET ' || ${tag}_set, 'NOTHING'));`;
  const check = `DO $${tag}$ DECLARE ${tag} bigint; ${tag}_set text; BEGIN
  ${deleteSql}
  ${upsertSql}
  SELECT count(*) INTO ${tag} FROM ${rowsOfTable};
  IF ${tag} <> ${chain.rowsAtSnapshot} THEN ${fail(`format('%s rows after applying it, the differential recorded ${chain.rowsAtSnapshot}', ${tag})`)}; END IF;
END $${tag}$;
${chain.mode === 'full' ? '' : 'DROP TABLE pg_temp.kit_keys, pg_temp.kit_rows;'}\n`;
  return { deletes, upsert, check };
}

/** Stream every differential into the load's transaction; the COPYs it ran, with the counts each must load. */
export async function applyDifferentials(differentials: ExportSource[], stdin: Writable, reporter: Reporter): Promise<LoadedCopy[]> {
  const copies: LoadedCopy[] = [];
  const tag = `kit_${randomBytes(6).toString('hex')}`;
  await write(stdin, 'SET LOCAL session_replication_role = replica;\n');
  for (const [i, d] of differentials.entries()) {
    const meta = d.metadata;
    reporter.progress({ phase: 'applying differentials', bytes: 0, done: i, total: differentials.length, detail: meta.id });
    for (const t of meta.tables) {
      if (!t.chain) throw new KitError('EXPORT_DAMAGED', `${meta.id}'s metadata.json has no chain details for ${t.name}. The import was rolled back; the target is unchanged.`);
      const steps = tableSteps(t, meta.id, tag);
      // Deleted keys first: a key deleted and a new row taking its unique values must not collide.
      await write(stdin, steps.deletes);
      if (t.chain.mode === 'changes') {
        const deleted = t.chain.deleted!;
        await streamFile(d, deleted.file, deleted, stdin, new CsvToCopyText(deleted.file));
        await write(stdin, '\\.\n');
        copies.push({ name: `${deleted.file} of ${meta.id}`, expected: deleted.rows });
      }
      await write(stdin, steps.upsert);
      await streamFile(d, t.file, t, stdin, new CsvToCopyText(t.file));
      await write(stdin, '\\.\n');
      copies.push({ name: `${t.file} of ${meta.id}`, expected: t.rows });
      await write(stdin, steps.check);
    }
  }
  await write(stdin, `${sequencesSql(differentials.at(-1)!.metadata)}\n`);
  return copies;
}
