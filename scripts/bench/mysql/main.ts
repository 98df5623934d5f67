/**
 * `pnpm bench -- --engine mysql`: the MySQL/MariaDB section. A throw-away MariaDB server with a
 * generated database of mixed data; the kit's backup, restore and export against MariaDB's own
 * client programs in the same run, as ratios; and the two npm drivers streaming the biggest table
 * (rows per second and peak memory), on a line of their own. A kit command that does not work
 * yet on MySQL is reported as "not measured: <why>", never with a figure.
 */
import { locateMySqlTool } from '../../lib/engines/mysql/tools.js';
import { warmUpKit } from '../context.js';
import { measure, type CaseResult } from '../measure.js';
import { UsageError, type BenchOptions } from '../options.js';
import type { BenchCase } from '../registry.js';
import { caseRow, checkResult, checksFor, machineFacts, MB, notMeasuredLines, progress, table, type Check } from '../report.js';
import { mysqlCases, type MySqlBenchContext } from './cases.js';
import { BENCH_DATABASE, loadMySqlData, openMySqlSubject, serverVersion, type MySqlSubject } from './subject.js';

export function mysqlCaseList(): BenchCase[] {
  return mysqlCases({ subject: {} as MySqlSubject, signal: new AbortController().signal });
}

export function selectMySqlCases(all: BenchCase[], only: string[] | undefined): BenchCase[] {
  if (!only) return all;
  const unknown = only.filter((id) => !all.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`unknown case ${unknown.join(', ')} for --engine mysql; its cases are: ${all.map((c) => c.id).join(', ')}.`);
  return all.filter((c) => only.includes(c.id));
}

interface MySqlFacts {
  machine: ReturnType<typeof machineFacts>;
  serverVersion: string;
  dumpTool: string;
  database: { name: string; sizeBytes: number; scale: number };
  /** The throw-away server's loopback port (closed again when the bench ends). */
  serverPort: number;
}

const isDriver = (r: { id: string }) => r.id.startsWith('mysql-driver-');

function driverLines(results: CaseResult[]): string[] {
  return results.filter(isDriver).map((r) => {
    if (r.notMeasured !== undefined) return `  ${r.label}: not measured: ${r.notMeasured}`;
    const secondsInside = r.innerMedianSeconds ?? r.medianSeconds;
    const perSecond = r.rows !== undefined && secondsInside > 0 ? Math.round(r.rows / secondsInside) : undefined;
    return `  ${r.label}: ${r.rows ?? '?'} rows in ${secondsInside.toFixed(2)} s (${perSecond?.toLocaleString('en-US') ?? '?'} rows/s), peak RSS ${r.peakRssBytes !== undefined ? (r.peakRssBytes / MB).toFixed(1) : '?'} MB`;
  });
}

function renderMySqlText(facts: MySqlFacts, runs: number, results: CaseResult[], checks: Check[]): string {
  const m = facts.machine;
  const measured = results.filter((r) => !isDriver(r));
  const lines = [
    `Machine:    ${m.nproc} CPUs (${m.cpuModel}), ${(m.totalMemoryBytes / 1e9).toFixed(1)} GB RAM, ${m.kernel}, Node ${m.node}`,
    `MariaDB:    server ${facts.serverVersion} on 127.0.0.1:${facts.serverPort}; ${facts.dumpTool}`,
    `Database:   ${facts.database.name} (throw-away server), ${(facts.database.sizeBytes / MB).toFixed(1)} MB (mixed data, scale ${facts.database.scale})`,
    `Method:     wall-clock median of ${runs} run(s) per case, cases interleaved, output under ${m.tempDir}`,
    '',
    ...(measured.length ? table([['case', 'median s', 'runs s', 'kit-internal s', 'output MB', 'kit peak RSS MB'], ...measured.map(caseRow)], [1, 3, 4, 5]) : []),
    '',
    ...(checks.length ? table([['check', 'value', 'target', 'result'], ...checks.map((c) => [c.label, c.value?.toFixed(2) ?? 'n/a', c.target, checkResult(c)])], [1]) : []),
    ...notMeasuredLines(measured),
  ];
  const drivers = driverLines(results);
  if (drivers.length) lines.push('', 'Drivers (streaming one large result, each in a process of its own; the kit uses mysql2):', ...drivers);
  return lines.join('\n') + '\n';
}

export async function benchMySql(options: BenchOptions, signal: AbortSignal): Promise<void> {
  const subject = await openMySqlSubject(signal);
  try {
    const ctx: MySqlBenchContext = { subject, signal };
    const cases = selectMySqlCases(mysqlCases(ctx), options.only);
    const sizeBytes = await loadMySqlData(subject, options.scale, signal);
    const dump = await locateMySqlTool('mariadb-dump');
    const facts: MySqlFacts = { machine: machineFacts(), serverVersion: await serverVersion(subject), dumpTool: dump.versionLine, database: { name: BENCH_DATABASE, sizeBytes, scale: options.scale }, serverPort: subject.server.port };
    progress(`database ${BENCH_DATABASE}: ${(sizeBytes / MB).toFixed(1)} MB`);
    await warmUpKit(signal);
    const results = await measure(cases, options.runs);
    // The drivers' memory is theirs, not the kit's: they stay out of the kit's checks.
    const kitCases = cases.filter((c) => !isDriver(c));
    const checks = checksFor(kitCases, results.filter((r) => !isDriver(r)));
    process.stdout.write(options.json ? JSON.stringify({ engine: 'mysql', facts, runs: options.runs, cases: results, checks }, null, 2) + '\n' : renderMySqlText(facts, options.runs, results, checks));
  } finally {
    progress('destroying the throw-away MariaDB server');
    await subject.close();
  }
}
