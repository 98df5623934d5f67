/**
 * Tablespaces in a restore. A tar-format base backup holds one <oid>.tar per tablespace and, in
 * base.tar, a `tablespace_map` file ("<oid> <directory>" per line) from which PostgreSQL makes the
 * pg_tblspc/<oid> links when recovery starts. The kit never unpacks a tablespace where it lived
 * (on the same machine that is the running cluster's own): each one goes where
 * --tablespace-mapping OLD=NEW says, the map is rewritten, and the links are made now so that
 * pg_verifybackup finds the files too.
 */
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KitError } from '../errors.js';

export interface TablespaceEntry {
  oid: string;
  directory: string;
}

/** tablespace_map's text: "<oid> <directory>" per line (a directory may hold spaces). Pure. */
export function parseTablespaceMap(text: string): TablespaceEntry[] {
  return text.split('\n').filter((l) => l.trim()).map((line) => {
    const m = /^(\d+) (.+)$/.exec(line);
    if (!m) throw new KitError('INTEGRITY_FAILED', `tablespace_map has a line the kit cannot read: "${line}". The backup is damaged; restore another one.`);
    return { oid: m[1]!, directory: m[2]! };
  });
}

/** `OLD=NEW` pairs (pg_basebackup's --tablespace-mapping syntax; OLD may also be the oid). Pure. */
export function parseTablespaceMappings(values: string[], problems: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const value of values) {
    const at = value.indexOf('=');
    const from = at > 0 ? value.slice(0, at) : '';
    const to = at > 0 ? value.slice(at + 1) : '';
    if (!from || !path.isAbsolute(to) || (!path.isAbsolute(from) && !/^\d+$/.test(from))) {
      problems.push(`--tablespace-mapping takes OLD=NEW with absolute directories (or the tablespace's oid as OLD), got "${value}".`);
      continue;
    }
    out.set(from.replace(/\/+$/, ''), path.resolve(to));
  }
  return out;
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 /**
 * Where each tablespace of the unpacked data directory goes, checked before any of them is
 * written: every tablespace placed, every target new or empty. In tablespace_map order.
 */
export type TablespacePlacer = (entry: TablespaceEntry) => string | undefined;

/** A placer from --tablespace-mapping: by the old directory, or by oid. */
export function placerOf(mappings: Map<string, string>): TablespacePlacer {
  return (e) => mappings.get(e.directory) ?? mappings.get(e.oid);
}

export async function planTablespaces(dataDir: string, place: TablespacePlacer): Promise<Array<TablespaceEntry & { target: string }>> {
  const text = await readFile(path.join(dataDir, 'tablespace_map'), 'utf8').catch(() => '');
  const entries = parseTablespaceMap(text);
  const unmapped = entries.filter((e) => place(e) === undefined);
  if (unmapped.length) {
    throw new KitError('BAD_ARGUMENT', `The backup holds tablespaces; say where each goes on this machine (never where it lived, which may be a running cluster's): ${unmapped.map((e) => `--tablespace-mapping ${e.directory}=<new directory>`).join(' ')}. Nothing was restored.`);
  }
  const plan = entries.map((e) => ({ ...e, target: place(e)! }));
  for (const p of plan) {
    if (!(await isEmptyOrMissing(p.target))) throw new KitError('TARGET_DIR_IN_USE', `${p.target} (for tablespace ${p.directory}) is not empty. Map it to a new or empty directory. Nothing was restored.`);
  }
  return plan;
}

/** Point the data directory at the planned directories: tablespace_map rewritten, links made. */
export async function linkTablespaces(dataDir: string, plan: Array<TablespaceEntry & { target: string }>): Promise<void> {
  await writeFile(path.join(dataDir, 'tablespace_map'), plan.map((p) => `${p.oid} ${p.target}\n`).join(''), { mode: 0o600 });
  await mkdir(path.join(dataDir, 'pg_tblspc'), { recursive: true, mode: 0o700 });
  for (const p of plan) await symlink(p.target, path.join(dataDir, 'pg_tblspc', p.oid));
}
