/** What the bench prints: machine facts, the case table and the checks against targets. */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import { redact } from '../lib/redact.js';
import type { CaseResult } from './measure.js';
import type { BenchCase } from './registry.js';

export const MB = 1e6; // the kit's formatBytes counts in powers of 1000 too

export function progress(line: string): void {
  process.stderr.write(`bench: ${redact(line)}\n`);
}

/** Rounded to the millisecond first, so progress lines, table and JSON show the same digits. */
export function roundSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

export function seconds(ms: number): string {
  return roundSeconds(ms).toFixed(2);
}

export interface Check {
  label: string;
  target: string;
  value: number | undefined;
  pass: boolean;
  /** Why one of its two cases was not measured: the check then has no value and is no MISS. */
  notMeasured?: string;
}

/** One check per case target whose two cases both ran, plus the kit's peak memory. */
export function checksFor(cases: BenchCase[], results: CaseResult[]): Check[] {
  const median = (id: string) => results.find((r) => r.id === id)?.medianSeconds;
  const checks: Check[] = [];
  for (const c of cases) {
    if (!c.target) continue;
    const missing = results.find((r) => (r.id === c.id || r.id === c.target?.against) && r.notMeasured !== undefined);
    if (missing) {
      checks.push({ label: c.target.label, target: `<= ${c.target.max.toFixed(2)}`, value: undefined, pass: false, notMeasured: missing.notMeasured! });
      continue;
    }
    const top = median(c.id);
    const bottom = median(c.target.against);
    if (top === undefined || bottom === undefined) continue;
    const value = bottom > 0 ? top / bottom : undefined;
    checks.push({ label: c.target.label, target: `<= ${c.target.max.toFixed(2)}`, value, pass: value !== undefined && value <= c.target.max });
  }
  const rss = results.map((r) => r.peakRssBytes).filter((v): v is number => v !== undefined);
  if (rss.length) {
    const peakMb = Math.max(...rss) / MB;
    checks.push({ label: 'kit peak RSS, MB (max over runs)', target: '< 150', value: peakMb, pass: peakMb < 150 });
  }
  return checks;
}

export interface Facts {
  nproc: number;
  cpuModel: string;
  totalMemoryBytes: number;
  kernel: string;
  node: string;
  serverVersion: string;
  pgDump: string;
  tempDir: string;
  database: { origin: string; name: string; sizeBytes: number; pgbenchScale: number | undefined; data: string };
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1]) return match[1].trim();
  } catch {
    // not Linux: fall through to what Node reports
  }
  return cpus()[0]?.model ?? 'unknown';
}

export function machineFacts(): Pick<Facts, 'nproc' | 'cpuModel' | 'totalMemoryBytes' | 'kernel' | 'node' | 'tempDir'> {
  return { nproc: availableParallelism(), cpuModel: cpuModel(), totalMemoryBytes: totalmem(), kernel: `${process.platform} ${release()}`, node: process.version, tempDir: tmpdir() };
}

export function table(rows: string[][], rightAligned: number[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((row) =>
    row.map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd(),
  );
}

export function checkResult(check: Check): string {
  if (check.notMeasured !== undefined) return 'not measured (see below)';
  return check.pass ? 'PASS' : 'MISS';
}

/** Below the tables, why each case that was not measured was not: one line each. */
export function notMeasuredLines(results: CaseResult[]): string[] {
  const missing = results.filter((r) => r.notMeasured !== undefined);
  return missing.length ? ['', ...missing.map((r) => `not measured: ${r.label}: ${r.notMeasured}`)] : [];
}

/** A case's row in the case table. */
export function caseRow(r: CaseResult): string[] {
  if (r.notMeasured !== undefined) return [r.label, 'not measured', '', '', '', ''];
  return [
    r.label,
    r.medianSeconds.toFixed(2),
    r.seconds.map((s) => s.toFixed(2)).join(' '),
    r.innerMedianSeconds?.toFixed(2) ?? '-',
    (r.outputBytes / MB).toFixed(1),
    r.peakRssBytes !== undefined ? (r.peakRssBytes / MB).toFixed(1) : '-',
  ];
}

export function renderText(facts: Facts, runs: number, results: CaseResult[], checks: Check[]): string {
  const gb = (bytes: number) => (bytes / 1e9).toFixed(1);
  const db = facts.database;
  const lines = [
    `Machine:    ${facts.nproc} CPUs (${facts.cpuModel}), ${gb(facts.totalMemoryBytes)} GB RAM, ${facts.kernel}, Node ${facts.node}`,
    `PostgreSQL: server ${facts.serverVersion}; ${facts.pgDump}`,
    `Database:   ${db.name} (${db.origin}), ${(db.sizeBytes / MB).toFixed(1)} MB${db.pgbenchScale !== undefined ? ` (${db.data} data, scale ${db.pgbenchScale})` : ''}`,
    `Method:     wall-clock median of ${runs} run(s) per case, cases interleaved, output under ${facts.tempDir}`,
    '',
    ...table(
      [
        ['case', 'median s', 'runs s', 'kit-internal s', 'output MB', 'kit peak RSS MB'],
        ...results.map(caseRow),
      ],
      [1, 3, 4, 5],
    ),
    'kit-internal = the durationMs the kit reports itself; the rest of its wall time is Node start-up and connecting.',
    '',
    ...table(
      [
        ['check', 'value', 'target', 'result'],
        ...checks.map((c) => [c.label, c.value?.toFixed(2) ?? 'n/a', c.target, checkResult(c)]),
      ],
      [1],
    ),
    ...notMeasuredLines(results),
  ];
  return lines.join('\n') + '\n';
}
