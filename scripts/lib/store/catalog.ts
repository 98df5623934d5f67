/**
 * How any store turns the files it holds into a listing the kit can trust: a backup is complete
 * only when its .info reads (current version, own checksum intact); every other file with a
 * backup's name is a leftover with a reason. Shared by every BackupStore implementation, so a
 * bucket and a directory are judged by the same rules.
 */
import { parseInfo, type BackupInfo } from '../format/metadata.js';
import { stampOf, stemOf, typeOfStem } from '../format/naming.js';
import { KitError } from '../errors.js';
import type { Leftover, Listing, StoredBackup } from './store.js';

export const PARTIAL_SUFFIX = '.partial';

export interface NamedFile {
  name: string;
  bytes: number;
}

export interface ListingPlace {
  kind: string;
  where: string;
  /** A file's location, for people. */
  locate(name: string): string;
  /** The text of a file (the .info), or undefined when it cannot be read. */
  read(name: string): Promise<string | undefined>;
  /** A run on this environment is in progress now: its unfinished files are not leftovers. */
  running: boolean;
}

function groupByStem(files: NamedFile[]): Map<string, NamedFile[]> {
  const byStem = new Map<string, NamedFile[]>();
  for (const file of files) {
    const stem = stemOf(file.name);
    if (!stem) continue;
    const group = byStem.get(stem);
    if (group) group.push(file);
    else byStem.set(stem, [file]);
  }
  return byStem;
}

function leftover(place: ListingPlace, id: string, file: NamedFile, kind: Leftover['kind'], reason: string): Leftover {
  return { name: file.name, location: place.locate(file.name), id, bytes: file.bytes, kind, reason };
}

/** Files of a stem that has no .info: an interrupted run, a run in progress, or a lost .info. */
function withoutInfo(place: ListingPlace, id: string, files: NamedFile[]): Leftover[] {
  const unfinished = files.every((f) => f.name.endsWith(PARTIAL_SUFFIX) || f.name === `${id}.verify.json`);
  if (place.running && unfinished) return files.map((f) => leftover(place, id, f, 'in-progress', 'being written by a run in progress'));
  // Artifacts with their .sha256 manifest are a finished backup that lost its .info: never
  // removed automatically; `sha256sum -c` still checks them and restore takes them by file name.
  const manifested = files.some((f) => f.name === `${id}.sha256`);
  return files.map((f) =>
    manifested && !f.name.endsWith(PARTIAL_SUFFIX)
      ? leftover(place, id, f, 'no-info', `its .info is missing; kept (check with sha256sum -c ${id}.sha256)`)
      : leftover(place, id, f, 'partial', 'no .info (incomplete backup)'),
  );
}

export async function buildListing(files: NamedFile[], place: ListingPlace): Promise<Listing> {
  const complete: StoredBackup[] = [];
  const leftovers: Leftover[] = [];
  for (const [id, group] of groupByStem(files)) {
    const infoName = `${id}.info`;
    if (!group.some((f) => f.name === infoName)) {
      leftovers.push(...withoutInfo(place, id, group));
      continue;
    }
    const text = await place.read(infoName);
    const reading = text === undefined ? { ok: false as const, kind: 'unreadable' as const, problem: 'cannot be read' } : parseInfo(text);
    if (reading.ok && reading.info.id === id) {
      complete.push({ id, info: reading.info, files: group.map((f) => f.name), where: place.where, infoLocation: place.locate(infoName), storeKind: place.kind });
      for (const f of group) if (f.name.endsWith(PARTIAL_SUFFIX)) leftovers.push(leftover(place, id, f, 'partial', 'partial file'));
      continue;
    }
    const kind = !reading.ok && reading.kind === 'newer' ? 'newer-info' : 'unreadable-info';
    const problem = reading.ok ? `its .info names another backup (${reading.info.id})` : reading.problem;
    for (const f of group) leftovers.push(leftover(place, id, f, kind, f.name === infoName ? `.info ${problem}` : `its .info ${problem}`));
  }
  complete.sort(newestFirst);
  return { complete, leftovers };
}

/**
 * When a backup was taken, by what the kit and the server recorded: the earlier of the two, so
 * a clock set forward on either side cannot make a backup look newer than it is.
 */
export function takenAt(info: BackupInfo): string {
  const server = info.snapshot.takenAt;
  if (server === undefined) return info.startedAt;
  return new Date(Math.min(Date.parse(server), Date.parse(info.startedAt))).toISOString();
}

/** Dated after `now` (beyond a few minutes of drift): taken under a wrong clock. */
export function fromTheFuture(info: BackupInfo, now: Date): boolean {
  return Date.parse(takenAt(info)) > now.getTime() + 5 * 60_000;
}

export function newestFirst(a: StoredBackup, b: StoredBackup): number {
  return takenAt(b.info).localeCompare(takenAt(a.info)) || b.id.localeCompare(a.id);
}

/**
 * The newest backup, optionally of one type. With `now`, backups dated in the future are passed
 * over: one taken under a clock set forward must not stay "latest" forever. Pure, for tests.
 */
export function selectLatest<E extends { info: BackupInfo }>(entries: E[], type?: string, now?: Date): E | undefined {
  return entries
    .filter((e) => (type === undefined || e.info.type === type) && (now === undefined || !fromTheFuture(e.info, now)))
    .sort((a, b) => takenAt(b.info).localeCompare(takenAt(a.info)))[0];
}

/** The newest complete backup, refusing when a newer one cannot be read: restoring an older one silently would lose data. */
export function latestReadable(listing: Listing, type: string | undefined, where: string, now: Date, warn: (message: string) => void = () => undefined, purpose: 'restore' | 'verify' = 'restore'): StoredBackup | undefined {
  const entries = listing.complete.filter((e) => type === undefined || e.info.type === type);
  for (const e of entries.filter((x) => fromTheFuture(x.info, now))) {
    warn(`warning: backup ${e.id} is dated ${takenAt(e.info)}, in the future (was a clock wrong?); --latest passes it over. Name it to use it.`);
  }
  const latest = selectLatest(entries, undefined, now);
  const newest = latest ? stampOf(latest.id) : '';
  const broken = listing.leftovers.find((l) => (l.kind === 'unreadable-info' || l.kind === 'newer-info') && l.name === `${l.id}.info` && stampOf(l.id) > newest && (type === undefined || typeOfStem(l.id) === type));
  if (broken) {
    const fix = broken.kind === 'newer-info' ? 'Upgrade the kit to read it' : `Repair or remove ${broken.location}`;
    throw new KitError('INTEGRITY_FAILED', `The newest backup in ${where}, ${broken.id}, cannot be used: ${broken.reason}. --latest stops rather than ${purpose} an older backup${latest ? ` (${latest.id})` : ''} in its place. ${fix}, or name the backup to ${purpose}.`);
  }
  return latest;
}

