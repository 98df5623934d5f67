/** db:export and db:import on MySQL/MariaDB, as the engine seam asks for them (Engine.csvExport). */
import type { CsvExportEngine } from '../engine.js';
import { dumpMySqlSchema, openMySqlExport } from './export.js';
import { importIntoMySql } from './import.js';

export const mySqlCsvExport: CsvExportEngine = {
  async open(target, waitSeconds, onRetry, signal, options) {
    const session = await openMySqlExport(target, waitSeconds, onRetry, signal, options?.differential ?? false);
    const outside = session.tables.filter((t) => t.engine.toLowerCase() !== 'innodb');
    return {
      ...session,
      settings: { time_zone: '+00:00', character_set: 'utf8mb4', isolation: 'REPEATABLE READ, WITH CONSISTENT SNAPSHOT' },
      notices: outside.length ? [`${outside.map((t) => `${t.table} (${t.engine})`).join(', ')} ${outside.length === 1 ? 'is' : 'are'} not InnoDB: no snapshot covers ${outside.length === 1 ? 'it' : 'them'}, so ${outside.length === 1 ? 'it was' : 'they were'} read as ${outside.length === 1 ? 'it stood' : 'they stood'} at that moment`] : [],
      async writeSchema(tables, sink, abort) {
        const dumped = await dumpMySqlSchema(target, tables, sink, abort);
        return { bytes: dumped.bytes, sha256: dumped.sha256, preDataBytes: dumped.preDataBytes, tool: { path: dumped.tool.path, version: dumped.tool.release ?? dumped.tool.versionLine } };
      },
    };
  },
  load: importIntoMySql,
  caveat: 'MySQL/MariaDB commit DDL at once: the target is emptied and its tables created before the rows load in one transaction, so a failure after that point leaves it partly loaded (the safety backup undoes it)',
};
