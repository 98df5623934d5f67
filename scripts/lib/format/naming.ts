/** Backup names: pure functions, so they can be tested with tables of cases. */

export const FORMATS = ['sql', 'sql.gz', 'dump', 'tar'] as const;
export type Format = (typeof FORMATS)[number];

const TYPE = /^[a-z0-9][a-z0-9-]{0,39}$/;

export function isValidType(type: string): boolean {
  return TYPE.test(type);
}

import { formatStamp } from '../text/time.js';

export { formatStamp };

/**
 * The stem for a new backup. Two backups of the same type in the same second get "_2", "_3", …
 * so neither overwrites the other. `taken` is every stem already present (complete or partial).
 */
export function backupStem(type: string, date: Date, taken: ReadonlySet<string>): string {
  const base = `backup_${type}_${formatStamp(date)}`;
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) {
    const candidate = `${base}_${n}`;
    if (!taken.has(candidate)) return candidate;
  }
}

const STEM = /^(backup_([a-z0-9][a-z0-9-]*)_(\d{8}_\d{6})(?:_(\d+))?)/;

/** The stem a file belongs to, e.g. "backup_manual_20261121_143022.sql.gz.partial" → that stem. */
export function stemOf(fileName: string): string | undefined {
  return STEM.exec(fileName)?.[1];
}

/** One segment of a stored name: never empty, ".", "..", or holding a separator or NUL. */
function safeSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !/[\\/\0]/.test(segment);
}

/**
 * Whether `file` (a name from an .info) is one of backup `id`'s own files: a file beside the
 * .info named after the backup ("<id>.dump"), or a file inside the backup's own directory
 * ("<id>/data/public.t.csv", a directory export). Nothing that could reach elsewhere.
 */
export function ownsArtifact(id: string, file: string): boolean {
  const segments = file.split('/');
  if (!segments.every(safeSegment)) return false;
  if (segments.length === 1) return stemOf(file) === id;
  return segments[0] === id;
}

export function artifactFile(stem: string, format: Format): string {
  return `${stem}.${format}`;
}

export function parseFormats(values: string[]): { formats: Format[]; unknown: string[] } {
  const requested = values.flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter(Boolean);
  const unknown = requested.filter((v) => !(FORMATS as readonly string[]).includes(v));
  const formats = FORMATS.filter((f) => requested.includes(f));
  // No --format at all means every format; `--format ''` means none, which the caller refuses.
  return { formats: values.length === 0 ? [...FORMATS] : formats, unknown };
}

/** The "yyyyMMdd_HHmmss[_n]" part of a stem, which sorts by the time it was taken. */
export function stampOf(stem: string): string {
  const m = STEM.exec(stem);
  return m ? `${m[3]}_${(m[4] ?? '1').padStart(4, '0')}` : '';
}

/** The backup type a stem names. */
export function typeOfStem(stem: string): string | undefined {
  return STEM.exec(stem)?.[2];
}
