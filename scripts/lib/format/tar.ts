/**
 * A tar archive read as far as its structure: every member header intact and the two zero
 * blocks that end it present. PostgreSQL 15's pg_restore loops forever on a tar cut short, so a
 * truncated .tar is caught here, reading only the headers, before pg_restore ever sees it.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const BLOCK = 512;

/** The member's size from its header (octal, or base-256 for large members). */
function memberSize(header: Buffer): number {
  const field = header.subarray(124, 136);
  if (field[0]! & 0x80) {
    let size = 0;
    for (let i = 1; i < field.length; i++) size = size * 256 + field[i]!;
    return size;
  }
  return parseInt(field.toString('latin1').replace(/[\0 ]+$/, '').trim() || '0', 8);
}

function checksumMatches(header: Buffer): boolean {
  const stored = parseInt(header.toString('latin1', 148, 156).replace(/[\0 ]+$/, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  return stored === sum;
}

/** Undefined when the archive is whole; otherwise what is wrong with it. */
export function tarProblem(file: string): string | undefined {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(BLOCK);
    let pos = 0;
    for (;;) {
      if (pos + BLOCK > size) return `it ends inside a member, at byte ${size} (truncated)`;
      readSync(fd, header, 0, BLOCK, pos);
      if (header.every((b) => b === 0)) {
        if (pos + 2 * BLOCK > size) return 'its end-of-archive marker is missing (truncated)';
        readSync(fd, header, 0, BLOCK, pos + BLOCK);
        return header.every((b) => b === 0) ? undefined : 'its end-of-archive marker is damaged';
      }
      if (!checksumMatches(header)) return `the member header at byte ${pos} is damaged`;
      pos += BLOCK + Math.ceil(memberSize(header) / BLOCK) * BLOCK;
    }
  } finally {
    closeSync(fd);
  }
}
