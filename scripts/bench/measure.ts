/** Runs cases round-robin in throw-away directories and summarises their timings. */
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { BenchCase, RunOutcome } from './registry.js';
import { progress, roundSeconds, seconds } from './report.js';

export interface CaseResult {
  id: string;
  label: string;
  seconds: number[];
  medianSeconds: number;
  /** Bytes left in the run's directory (artifacts plus the kit's metadata), from the last run. */
  outputBytes: number;
  peakRssBytes: number | undefined;
  innerMedianSeconds: number | undefined;
  /** Rows read by the last run of a streaming case. */
  rows?: number;
  /** Why a case that may be unavailable was not measured (its first failure); its figures are then empty. */
  notMeasured?: string;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

function treeBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    total += entry.isDirectory() ? treeBytes(full) : statSync(full).size;
  }
  return total;
}

interface Sample {
  ms: number;
  bytes: number;
  outcome: RunOutcome;
}

async function runOnce(benchCase: BenchCase): Promise<Sample> {
  const dir = mkdtempSync(path.join(tmpdir(), `pgkit-bench-${benchCase.id}-`));
  try {
    await benchCase.prepare?.(dir);
    const began = performance.now();
    const outcome = await benchCase.run(dir);
    const ms = performance.now() - began;
    return { ms, bytes: treeBytes(dir), outcome };
  } finally {
    await benchCase.cleanup?.(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

function summarise(benchCase: BenchCase, samples: Sample[]): CaseResult {
  const rss = samples.map((s) => s.outcome.peakRssBytes).filter((v): v is number => v !== undefined);
  const inner = samples.map((s) => s.outcome.innerMs).filter((v): v is number => v !== undefined);
  return {
    id: benchCase.id,
    label: benchCase.label,
    seconds: samples.map((s) => roundSeconds(s.ms)),
    medianSeconds: roundSeconds(median(samples.map((s) => s.ms))),
    outputBytes: samples.at(-1)?.bytes ?? 0,
    peakRssBytes: rss.length ? Math.max(...rss) : undefined,
    innerMedianSeconds: inner.length ? median(inner) / 1000 : undefined,
    ...(samples.at(-1)?.outcome.rows !== undefined ? { rows: samples.at(-1)!.outcome.rows } : {}),
  };
}

/**
 * Round-robin (every case once, then again) rather than case by case, so drift on the machine
 * (cache warming, a noisy neighbour) spreads over all cases instead of landing on one.
 */
export async function measure(cases: BenchCase[], runs: number): Promise<CaseResult[]> {
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.id, []]));
  const unavailable = new Map<string, string>();
  for (let run = 1; run <= runs; run++) {
    for (const benchCase of cases) {
      if (unavailable.has(benchCase.id)) continue;
      let sample: Sample;
      try {
        sample = await runOnce(benchCase);
      } catch (error) {
        if (!benchCase.mayBeUnavailable) throw error;
        const why = firstLine(error);
        unavailable.set(benchCase.id, why);
        progress(`${benchCase.label}: not measured: ${why}`);
        continue;
      }
      samples.get(benchCase.id)?.push(sample);
      progress(`run ${run}/${runs} ${benchCase.label}: ${seconds(sample.ms)} s`);
    }
  }
  return cases.map((c) => {
    const why = unavailable.get(c.id);
    return why === undefined ? summarise(c, samples.get(c.id) ?? []) : notMeasured(c, why);
  });
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((l) => l.trim())?.trim().slice(0, 300) ?? 'failed';
}

function notMeasured(benchCase: BenchCase, why: string): CaseResult {
  return { id: benchCase.id, label: benchCase.label, seconds: [], medianSeconds: NaN, outputBytes: 0, peakRssBytes: undefined, innerMedianSeconds: undefined, notMeasured: why };
}
