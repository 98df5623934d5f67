/**
 * Multipart uploads this machine began and has not yet completed or aborted, kept beside the
 * local backups (.remote-uploads.json). When the object store goes away mid-upload the kit cannot
 * abort the upload then; the next db:push or db:retention finds it here and aborts it, even on
 * servers that cannot list unfinished uploads. Callers hold the environment's lock.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../files.js';

export interface JournalEntry {
  key: string;
  uploadId: string;
  startedAt: string;
}

export const JOURNAL_FILE = '.remote-uploads.json';

export class UploadJournal {
  private readonly file: string;
  /** Uploads of one backup run concurrently: their read-modify-writes take turns. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dir: string) {
    this.file = path.join(dir, JOURNAL_FILE);
  }

  read(): JournalEntry[] {
    if (!existsSync(this.file)) return [];
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as unknown;
      return Array.isArray(parsed) ? parsed.filter((e): e is JournalEntry => typeof e?.key === 'string' && typeof e?.uploadId === 'string') : [];
    } catch {
      return [];
    }
  }

  add(entry: JournalEntry): Promise<void> {
    return this.update((entries) => [...entries, entry]);
  }

  remove(uploadId: string): Promise<void> {
    return this.update((entries) => entries.filter((e) => e.uploadId !== uploadId));
  }

  private update(change: (entries: JournalEntry[]) => JournalEntry[]): Promise<void> {
    const next = this.queue.then(() => this.write(change(this.read())));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async write(entries: JournalEntry[]): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify(entries, null, 2) + '\n');
  }
}
