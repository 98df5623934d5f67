/**
 * Where physical backups and the WAL archive of one environment live: backups/<env>/physical/
 * (one stem per base backup, like the logical kinds) and backups/<env>/wal/ (segments by their
 * own names). Everything that touches these files goes through here.
 */
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { backupRoot, type CommandContext } from '../context.js';
import { KitError } from '../errors.js';
import { stemOf } from '../format/naming.js';
import { isPhysicalInfo, type PhysicalInfo } from './info.js';

export interface PhysicalEntry {
  id: string;
  info: PhysicalInfo;
  infoPath: string;
}

export interface PhysicalCatalog {
  complete: PhysicalEntry[];
  leftovers: Array<{ file: string; reason: string }>;
}

export class PhysicalRepo {
  readonly backups: string;
  readonly wal: string;

  constructor(readonly envDir: string, readonly environment: string) {
    this.backups = path.join(envDir, 'physical');
    this.wal = path.join(envDir, 'wal');
  }

  static of(ctx: Pick<CommandContext, 'root' | 'env'>, environment: string): PhysicalRepo {
    return new PhysicalRepo(path.join(backupRoot(ctx), environment), environment);
  }

  file(name: string): string {
    return path.join(this.backups, name);
  }

  /** Complete backups newest first; anything else with a backup stem is a leftover. */
  catalog(): PhysicalCatalog {
    const complete: PhysicalEntry[] = [];
    const leftovers: PhysicalCatalog['leftovers'] = [];
    if (!existsSync(this.backups)) return { complete, leftovers };
    const byStem = new Map<string, string[]>();
    for (const name of readdirSync(this.backups)) {
      const stem = stemOf(name);
      if (stem) byStem.set(stem, [...(byStem.get(stem) ?? []), name]);
    }
    for (const [stem, files] of byStem) {
      const infoPath = this.file(`${stem}.info`);
      const info = files.includes(`${stem}.info`) ? readPhysicalInfo(infoPath) : undefined;
      if (info) complete.push({ id: stem, info, infoPath });
      const reason = info ? 'partial file' : files.includes(`${stem}.info`) ? 'unreadable .info' : 'no .info (incomplete backup)';
      for (const f of files) if (!info || f.endsWith('.partial')) leftovers.push({ file: this.file(f), reason });
    }
    complete.sort((a, b) => b.info.startedAt.localeCompare(a.info.startedAt) || b.id.localeCompare(a.id));
    return { complete, leftovers };
  }

  /** One backup by id, or the newest with "latest". */
  find(id: string): PhysicalEntry {
    const { complete } = this.catalog();
    const entry = id === 'latest' ? complete[0] : complete.find((e) => e.id === id || e.id === stemOf(path.basename(id)));
    if (!entry) {
      const known = complete.slice(0, 5).map((e) => e.id).join(', ');
      throw new KitError('BACKUP_NOT_FOUND', id === 'latest'
        ? `No complete physical backup in ${this.backups}. Take one with pnpm db:backup:physical${this.environment === 'default' ? '' : ` -- --env ${this.environment}`}.`
        : `No complete physical backup "${id}" in ${this.backups}.${known ? ` Newest: ${known}.` : ''}`);
    }
    return entry;
  }

  /** A backup stops being one the moment its .info is gone; then its files go. */
  remove(entry: PhysicalEntry): void {
    rmSync(entry.infoPath, { force: true });
    for (const a of entry.info.artifacts) rmSync(this.file(a.file), { force: true });
    for (const extra of [`${entry.id}.sha256`, `${entry.id}.verify.json`]) rmSync(this.file(extra), { force: true });
  }

  /** Every file name in the WAL archive, finished ones only. */
  walFiles(): string[] {
    if (!existsSync(this.wal)) return [];
    return readdirSync(this.wal).filter((n) => !n.includes('.partial') && !n.startsWith('.')).sort();
  }
}

export function readPhysicalInfo(file: string): PhysicalInfo | undefined {
  try {
    const info: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return isPhysicalInfo(info) ? info : undefined;
  } catch {
    return undefined;
  }
}
