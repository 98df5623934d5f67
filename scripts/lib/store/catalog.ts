/**
 * The backups of one environment directory, as the kit trusts them: a backup is complete only
 * when its .info exists and parses; every other file with a backup stem is a leftover.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { INFO_SCHEMA, type BackupInfo } from '../format/metadata.js';
import { stemOf } from '../format/naming.js';
import { PARTIAL_SUFFIX } from './files.js';

export interface CatalogEntry {
  id: string;
  dir: string;
  infoPath: string;
  info: BackupInfo;
}

export interface Catalog {
  complete: CatalogEntry[];
  /** Files whose stem has no readable .info (partial files, orphaned artifacts, broken .info). */
  leftovers: Array<{ file: string; reason: string }>;
}

export function readInfoFile(infoPath: string): BackupInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(infoPath, 'utf8')) as BackupInfo;
    return info.schema === INFO_SCHEMA && typeof info.version === 'number' && Array.isArray(info.artifacts) ? info : undefined;
  } catch {
    return undefined;
  }
}

export function readCatalog(dir: string): Catalog {
  const complete: CatalogEntry[] = [];
  const leftovers: Catalog['leftovers'] = [];
  if (!existsSync(dir)) return { complete, leftovers };
  const names = readdirSync(dir);
  const byStem = new Map<string, string[]>();
  for (const name of names) {
    const stem = stemOf(name);
    if (!stem) continue;
    byStem.set(stem, [...(byStem.get(stem) ?? []), name]);
  }
  for (const [stem, files] of byStem) {
    const infoPath = path.join(dir, `${stem}.info`);
    const info = files.includes(`${stem}.info`) ? readInfoFile(infoPath) : undefined;
    if (info) {
      complete.push({ id: stem, dir, infoPath, info });
      for (const f of files) if (f.endsWith(PARTIAL_SUFFIX)) leftovers.push({ file: path.join(dir, f), reason: 'partial file' });
    } else {
      const reason = files.includes(`${stem}.info`) ? 'unreadable .info' : 'no .info (incomplete backup)';
      for (const f of files) leftovers.push({ file: path.join(dir, f), reason });
    }
  }
  complete.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt) || b.id.localeCompare(a.id));
  return { complete, leftovers };
}

/** Newest first; optionally only one type. Pure, for tests. */
export function selectLatest(entries: CatalogEntry[], type?: string): CatalogEntry | undefined {
  return entries.filter((e) => type === undefined || e.info.type === type).sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt))[0];
}
