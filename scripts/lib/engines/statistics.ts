/**
 * What a restored copy must hold against what the backup recorded: the same tables with the same
 * row counts and fingerprints, the same sequence positions. Engine-blind: every engine collects
 * statistics in this shape, however it reads them. Pure.
 */
import type { BackupInfo } from '../format/metadata.js';

export interface TableStatistics {
  rows: number;
  fingerprint: string;
}

export interface SequenceStatistics {
  value: string;
  isCalled: boolean;
}

export interface Statistics {
  tables: Record<string, TableStatistics>;
  sequences: Record<string, SequenceStatistics>;
}

/** Every difference between the recorded statistics and the restored copy's, in words. */
export function compareStatistics(expected: Statistics, actual: Statistics): string[] {
  const problems: string[] = [];
  for (const [table, want] of Object.entries(expected.tables)) {
    const got = actual.tables[table];
    if (!got) problems.push(`table ${table} is missing from the restored copy`);
    else if (got.rows !== want.rows) problems.push(`table ${table}: the backup recorded ${want.rows} rows, the restored copy has ${got.rows}`);
    else if (got.fingerprint !== want.fingerprint) problems.push(`table ${table}: ${want.rows} rows as recorded, but their content differs (fingerprint ${got.fingerprint}, recorded ${want.fingerprint})`);
  }
  for (const table of Object.keys(actual.tables)) if (!(table in expected.tables)) problems.push(`table ${table} is in the restored copy but not in the backup's statistics`);
  for (const [sequence, want] of Object.entries(expected.sequences)) {
    const got = actual.sequences[sequence];
    if (!got || got.value !== want.value || got.isCalled !== want.isCalled) {
      problems.push(`sequence ${sequence}: the backup recorded ${want.value}${want.isCalled ? '' : ' (not called)'}, the restored copy has ${got ? got.value : 'none'}`);
    }
  }
  return problems;
}

/** The statistics a restored copy must match, when the backup recorded them. */
export function recordedStatistics(info: BackupInfo): Statistics | undefined {
  const { statistics } = info;
  return Object.keys(statistics.tables).length > 0 || statistics.source !== 'none' ? { tables: statistics.tables, sequences: statistics.sequences } : undefined;
}
