/**
 * KIT_TRACE=1: counts of the costly steps one run takes (server connections the kit opens,
 * version probes of tools, hash passes over a file's bytes), printed as one JSON line on stderr
 * when the process exits. The benchmark and a test read it to pin the restore's walk. Counts and
 * file names only: never a URL, a user or a password.
 */
import path from 'node:path';

export interface TraceCounts {
  /** Connections the kit itself opened (node-postgres), by database name. */
  connections: Record<string, number>;
  /** `--version` probes spawned, by binary path. */
  probes: Record<string, number>;
  /** Whole passes of sha256 over a file's bytes, by file name. */
  hashPasses: Record<string, number>;
}

const counts: TraceCounts = { connections: {}, probes: {}, hashPasses: {} };
let printing = false;

function enabled(): boolean {
  const on = process.env.KIT_TRACE === '1';
  if (on && !printing) {
    printing = true;
    process.once('exit', () => process.stderr.write(`kit-trace ${JSON.stringify(counts)}\n`));
  }
  return on;
}

function bump(table: Record<string, number>, key: string): void {
  table[key] = (table[key] ?? 0) + 1;
}

export function traceConnection(database: string): void {
  if (enabled()) bump(counts.connections, database);
}

export function traceProbe(binary: string): void {
  if (enabled()) bump(counts.probes, binary);
}

/** One pass of sha256 over `file` (a path or a name; counted by its base name). */
export function traceHashPass(file: string): void {
  if (enabled()) bump(counts.hashPasses, path.basename(file));
}

/** The trace line a run printed, parsed (for the benchmark and tests). */
export function parseTrace(stderr: string): TraceCounts | undefined {
  const line = stderr.split('\n').find((l) => l.startsWith('kit-trace '));
  return line ? (JSON.parse(line.slice('kit-trace '.length)) as TraceCounts) : undefined;
}
