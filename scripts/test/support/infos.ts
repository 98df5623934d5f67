/**
 * A complete, valid .info for a plain-script backup, as db:backup would write it, for unit tests
 * that exercise stores, planning and copies without a server.
 */
import { createHash } from 'node:crypto';
import { buildInfo } from '../../lib/backup/backup.js';
import type { BackupInfo } from '../../lib/format/metadata.js';

/** The smallest script a restore accepts: it ends with pg_dump's completion trailer. */
export const DUMP_SCRIPT = Buffer.from('SET statement_timeout = 0;\n\n--\n-- PostgreSQL database dump complete\n--\n\n');

export function scriptBackupInfo(id: string, type: string, started: Date, script: Buffer = DUMP_SCRIPT): BackupInfo {
  return buildInfo({
    id,
    environment: 'default',
    options: { type, description: 'test', tables: [], excludeTables: [], schemas: [] },
    started,
    finished: new Date(started.getTime() + 1000),
    database: { name: 'app', host: 'localhost', port: 5432, user: 'app', serverVersion: '15.0', serverVersionNum: 150000, sizeBytes: 1, configuredBy: 'test' },
    pgDump: { path: '/usr/bin/pg_dump', version: '15.0' },
    snapshot: '00000003-1',
    serverTime: started,
    artifacts: [{ file: `${id}.sql`, format: 'sql', bytes: script.length, sha256: createHash('sha256').update(script).digest('hex') }],
    stats: { tables: {}, sequences: {}, complete: true, bytes: 0 },
    source: 'plain-stream',
    largeObjects: 0,
  });
}
