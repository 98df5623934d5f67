/**
 * `pnpm bench`: times the kit against the raw PostgreSQL tools in the same run, on the same
 * database, machine and pg_dump, and prints the ratios. Absolute seconds do not travel between
 * machines; ratios measured side by side do, which is why both sides are always run together.
 *
 * The cases live in cases/, one file each (see registry.ts); this file only orchestrates.
 */
import path from 'node:path';
import { $ } from 'zx/core';
import { redact } from '../lib/redact.js';
import { serverFacts } from '../lib/engines/postgres/connect.js';
import './cases/index.js';
import { benchContext, warmUpKit } from './context.js';
import { measure } from './measure.js';
import { parseOptions, UsageError, type BenchData, type BenchOptions } from './options.js';
import { registeredCases, type BenchCase } from './registry.js';
import { checksFor, machineFacts, MB, progress, renderText, type Facts } from './report.js';
import { benchMySql, mysqlCaseList, selectMySqlCases } from './mysql/main.js';
import { loadMixedData, loadPgbenchData, openSubject, withClient, type Subject } from './subject.js';

async function gatherFacts(subject: Subject, scale: number | undefined, data: BenchData, signal: AbortSignal): Promise<Facts> {
  const server = await withClient(subject.target, serverFacts);
  const pgDumpPath = path.join(subject.binDir, 'pg_dump');
  const pgDumpVersion = (await $({ signal, quiet: true })`${pgDumpPath} --version`).stdout.trim();
  return {
    ...machineFacts(),
    serverVersion: server.version,
    pgDump: `${pgDumpVersion} (${pgDumpPath})`,
    database: { origin: subject.origin, name: subject.target.database, sizeBytes: server.databaseSize, pgbenchScale: scale, data },
  };
}

/** Ctrl-C or SIGTERM stops the running child, so the finally below still destroys the cluster. */
function trapSignals(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    progress(`${signal} received: stopping and cleaning up (again to quit at once)`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

function selectCases(all: BenchCase[], only: string[] | undefined): BenchCase[] {
  if (!only) return all;
  const unknown = only.filter((id) => !all.some((c) => c.id === id));
  if (unknown.length) throw new UsageError(`unknown case ${unknown.join(', ')}; the cases are: ${all.map((c) => c.id).join(', ')}.`);
  return all.filter((c) => only.includes(c.id));
}

async function bench(options: BenchOptions, signal: AbortSignal, subject: Subject): Promise<void> {
  const cases = selectCases(registeredCases(benchContext(subject, signal)), options.only);
  const loads = options.url === undefined || options.init;
  if (loads) await (options.data === 'mixed' ? loadMixedData : loadPgbenchData)(subject, options.scale, signal);
  const facts = await gatherFacts(subject, loads ? options.scale : undefined, options.data, signal);
  progress(`database ${facts.database.name}: ${(facts.database.sizeBytes / MB).toFixed(1)} MB`);
  await warmUpKit(signal);
  const results = await measure(cases, options.runs);
  const checks = checksFor(cases, results);
  process.stdout.write(options.json ? JSON.stringify({ facts, runs: options.runs, cases: results, checks }, null, 2) + '\n' : renderText(facts, options.runs, results, checks));
}

export async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  if (!options) return;
  if (options.list) {
    // Listing needs no database: the factories only close over the context.
    const cases = options.engine === 'mysql' ? mysqlCaseList() : registeredCases(benchContext({} as Subject, new AbortController().signal));
    const width = Math.max(...cases.map((c) => c.id.length));
    process.stdout.write(cases.map((c) => `${c.id.padEnd(width)}  ${c.label}`).join('\n') + '\n');
    return;
  }
  const signal = trapSignals();
  if (options.engine === 'mysql') {
    selectMySqlCases(mysqlCaseList(), options.only);
    return benchMySql(options, signal);
  }
  // An unknown --case is a usage error before any cluster is started.
  selectCases(registeredCases(benchContext({} as Subject, signal)), options.only);
  const subject = await openSubject(options, signal);
  try {
    await bench(options, signal, subject);
  } finally {
    if (subject.origin === 'throw-away cluster') progress('destroying the throw-away cluster');
    await subject.close();
  }
}

export function reportFailure(error: unknown): void {
  if (error instanceof UsageError) {
    process.stderr.write(`bench: ${error.message}\nRun "pnpm bench --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`bench: error: ${redact(error instanceof Error ? error.message : String(error))}\n`);
  process.exitCode = 1;
}
