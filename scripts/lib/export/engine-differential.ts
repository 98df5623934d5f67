/**
 * Differential chains through an engine that reads exports on its own connection
 * (CsvExportSession.chain: MySQL, MariaDB), with the same chain, files and checks as
 * differential.ts gives PostgreSQL's: the chain decided by prepareChain, each table's changed rows
 * and key list read in the export's one snapshot, deleted keys found by merging the previous key
 * list with this one (differentialKeys), in the order the engine's keyOrder() compares.
 */
import { createWriteStream } from 'node:fs';
import { KitError } from '../errors.js';
import type { CsvChainReader, CsvExportSession, CsvExportTable } from '../engines/engine.js';
import { chainFileName, type ChainTable, type ExportTable } from '../format/export-metadata.js';
import { changedKeysFile, differentialKeys, type ChainServer, type ChainTableJob } from './differential.js';

/** The chain's questions, answered in the session's snapshot. */
export function csvChainServer(session: CsvExportSession, tables: CsvExportTable[]): ChainServer {
  const chain = readerOf(session);
  return {
    basisTypes: chain.basisTypes,
    timeZone: (configured) => chain.timeZone(configured),
    snapshotTime: async () => session.snapshot.takenAt,
    async countChanges(judged, lower, zone) {
      let total = 0;
      for (const t of tables) {
        const basis = judged.suitable.get(t.name);
        if (basis) total += await chain.countRows(t, { ...basis, lower, zone });
      }
      return total;
    },
  };
}

function readerOf(session: CsvExportSession): CsvChainReader {
  if (!session.chain) throw new KitError('INTERNAL', 'The export was not opened for a differential.');
  return session.chain;
}

export interface CsvChainJob extends Pick<ChainTableJob, 'judged' | 'previous' | 'place' | 'signal'> {
  session: CsvExportSession;
}

/** One table of a chain export: its data file, key list and (differentials) deleted keys. */
export async function exportCsvChainTable(job: CsvChainJob, t: CsvExportTable, file: string): Promise<ExportTable> {
  const chain = readerOf(job.session);
  const basis = job.judged.suitable.get(t.name);
  const changesOnly = job.previous !== undefined && basis !== undefined;
  const since = changesOnly ? { ...basis!, lower: job.previous!.lower, zone: job.previous!.zone } : undefined;
  const keysFile = chainFileName('keys', file);
  const data = await job.session.writeTable(t, createWriteStream(job.place(file), { mode: 0o600 }), job.signal, since);
  const keys = basis ? await chain.writeKeys(t, createWriteStream(job.place(changesOnly ? changedKeysFile(keysFile) : keysFile), { mode: 0o600 }), job.signal, since) : undefined;
  const record: ChainTable = { mode: changesOnly ? 'changes' : 'full', basis, primaryKey: t.primaryKey, rowsAtSnapshot: data.rows, keys: undefined, deleted: undefined };
  if (keys && !changesOnly) {
    record.keys = { file: keysFile, bytes: keys.bytes, sha256: keys.sha256, rows: keys.rows };
  } else if (keys) {
    const order = chain.keyOrder(t);
    const reader = { ...order, readAll: async (into: string) => (await chain.writeKeys(t, createWriteStream(into, { mode: 0o600 }), job.signal)).rows };
    Object.assign(record, await differentialKeys(job, t, reader, keysFile, chainFileName('deleted', file), await chain.countRows(t)));
  }
  record.rowsAtSnapshot = record.keys?.rows ?? data.rows;
  return { name: t.name, schema: t.schema, table: t.table, file, columns: t.columns, rows: data.rows, bytes: data.bytes, sha256: data.sha256, chain: record };
}
