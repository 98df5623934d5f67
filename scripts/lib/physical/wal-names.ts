/**
 * WAL file names and LSNs: pure functions. A segment name is TTTTTTTTXXXXXXXXYYYYYYYY (timeline,
 * then the segment number split in two at 4 GB of WAL), so with 16 MB segments Y runs 00..FF.
 */

export const SEGMENT_NAME = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
export const HISTORY_NAME = /^([0-9A-F]{8})\.history$/;
/** The backup history file PostgreSQL archives after a base backup: <segment>.<offset>.backup */
export const BACKUP_LABEL_NAME = /^([0-9A-F]{24})\.[0-9A-F]{8}\.backup$/;

export interface Segment {
  name: string;
  timeline: number;
  /** Position in the WAL stream: segment number since the start of the cluster. */
  number: bigint;
}

/** "0/3000148" → 50331976n */
export function parseLsn(text: string): bigint {
  const match = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!match) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

function segmentsPerId(segmentSize: number): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

export function segmentName(timeline: number, number: bigint, segmentSize: number): string {
  const per = segmentsPerId(segmentSize);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(number / per)}${hex(number % per)}`;
}

/** The segment that holds `lsn` on `timeline`. */
export function segmentOfLsn(timeline: number, lsn: bigint, segmentSize: number): string {
  return segmentName(timeline, lsn / BigInt(segmentSize), segmentSize);
}

/**
 * The segment holding the last byte before `lsn`: a backup that ends exactly on a segment boundary
 * needs nothing of the next segment.
 */
export function segmentBeforeLsn(timeline: number, lsn: bigint, segmentSize: number): string {
  return segmentOfLsn(timeline, lsn === 0n ? 0n : lsn - 1n, segmentSize);
}

export function parseSegment(name: string, segmentSize: number): Segment | undefined {
  const match = SEGMENT_NAME.exec(name);
  if (!match) return undefined;
  const per = segmentsPerId(segmentSize);
  return { name, timeline: parseInt(match[1]!, 16), number: BigInt(`0x${match[2]}`) * per + BigInt(`0x${match[3]}`) };
}

export interface Gap {
  timeline: number;
  /** First and last missing segment. */
  from: string;
  to: string;
  missing: number;
}

/**
 * Holes in each timeline's run of segments, between the first and the last segment present. A
 * recovery cannot read past a hole, so every later segment of that timeline is useless.
 */
export function findGaps(names: string[], segmentSize: number): Gap[] {
  const byTimeline = new Map<number, bigint[]>();
  for (const name of names) {
    const s = parseSegment(name, segmentSize);
    if (!s) continue;
    byTimeline.set(s.timeline, [...(byTimeline.get(s.timeline) ?? []), s.number]);
  }
  const gaps: Gap[] = [];
  for (const [timeline, numbers] of [...byTimeline].sort((a, b) => a[0] - b[0])) {
    const sorted = [...new Set(numbers)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (let i = 1; i < sorted.length; i++) {
      const previous = sorted[i - 1]!;
      const current = sorted[i]!;
      if (current - previous > 1n) {
        gaps.push({
          timeline,
          from: segmentName(timeline, previous + 1n, segmentSize),
          to: segmentName(timeline, current - 1n, segmentSize),
          missing: Number(current - previous - 1n),
        });
      }
    }
  }
  return gaps;
}

/** Segments from `first` to `last` (inclusive, same timeline) that are not in `present`. */
export function missingBetween(first: string, last: string, present: ReadonlySet<string>, segmentSize: number): string[] {
  const a = parseSegment(first, segmentSize);
  const b = parseSegment(last, segmentSize);
  if (!a || !b) return [];
  const missing: string[] = [];
  for (let n = a.number; n <= b.number; n++) {
    const name = segmentName(a.timeline, n, segmentSize);
    if (!present.has(name)) missing.push(name);
  }
  return missing;
}

/** Segments before `oldestNeeded` (the oldest kept base backup's first segment): safe to delete. */
export function segmentsOlderThan(names: string[], oldestNeeded: string, segmentSize: number): string[] {
  const limit = parseSegment(oldestNeeded, segmentSize);
  if (!limit) return [];
  return names.filter((name) => {
    const base = BACKUP_LABEL_NAME.exec(name)?.[1] ?? name;
    const s = parseSegment(base, segmentSize);
    // Compare positions, not timelines: a segment of an older timeline before the limit is as
    // useless as one of the same timeline. History files are tiny and always kept.
    return s !== undefined && s.number < limit.number;
  });
}
