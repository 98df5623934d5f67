/**
 * `pnpm bench`: times the kit against the raw PostgreSQL tools in the same run, on the same
 * database, machine and pg_dump, and prints the ratios. Absolute seconds do not travel between
 * machines; ratios measured side by side do, which is why both sides are always run together.
 *
 * A case is a BenchCase in buildCases(): a timed run(dir) and an optional untimed prepare(dir),
 * where a restore case can make the dump it restores. Targets are ratios between cases' medians
 * in checksFor(), so a new case is compared by adding one line there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, release, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { startCluster } from './lib/proc/cluster.js';
import { CONNECTION_VARIABLES, childEnv, targetFromUrl, type Target } from './lib/config/target.js';
import { connect, serverFacts, type Client } from './lib/pg/connect.js';
import { StderrTail, locateTool } from './lib/proc/pg-tools.js';
import { redact } from './lib/redact.js';

// pnpm runs scripts from the repository root; the kit is started the way package.json starts it.
const REPO = process.cwd();
const LAUNCHER = path.join(REPO, 'scripts/kit.mjs');
const BENCH_DATABASE = 'bench';
const MB = 1e6; // the kit's formatBytes counts in powers of 1000 too

const USAGE = `
Usage: pnpm bench [-- options]

Times pg-backup-kit against PostgreSQL's own pg_dump on the same database in the same run and
prints the ratios with PASS/MISS against their targets. By default it starts a throw-away
cluster, fills a database with pgbench data and deletes everything afterwards.

Options:
  --scale <n>   pgbench scale factor, about 15 MB of data per unit (default: 20)
  --runs <n>    runs per case; the median is reported (default: 3)
  --url <url>   benchmark this existing database instead of a throw-away cluster; its data is
                used as it is unless --init is given (prefer a scratch database)
  --init        with --url: load pgbench data at --scale first (drops and recreates the
                pgbench_* tables in that database)
  --json        print the results as one JSON object instead of tables
  --help, -h    this text

Progress goes to stderr, results to stdout.
`;

interface BenchOptions {
  scale: number;
  runs: number;
  url: string | undefined;
  init: boolean;
  json: boolean;
}

class UsageError extends Error {}

function positiveInteger(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number of at least 1, got "${text}".`);
  return n;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        scale: { type: 'string' },
        runs: { type: 'string' },
        url: { type: 'string' },
        init: { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Undefined means --help was printed and there is nothing to do. */
function parseOptions(argv: string[]): BenchOptions | undefined {
  // pnpm passes the "--" of `pnpm bench -- --runs 5` through; it means nothing here.
  const values = parseFlags(argv.filter((a) => a !== '--'));
  if (values.help === true) {
    process.stdout.write(USAGE.trimStart());
    return undefined;
  }
  const init = values.init === true;
  if (init && values.url === undefined) throw new UsageError('--init only applies with --url; the throw-away cluster is always initialised.');
  if (values.url !== undefined && !init && values.scale !== undefined) throw new UsageError('--scale needs --init when --url is given: without it the database is benchmarked as it is.');
  return {
    scale: positiveInteger(values.scale ?? '20', '--scale'),
    runs: positiveInteger(values.runs ?? '3', '--runs'),
    url: values.url,
    init,
    json: values.json === true,
  };
}

function progress(line: string): void {
  process.stderr.write(`bench: ${redact(line)}\n`);
}

// ---------------------------------------------------------------------------------------------
// Child processes

interface Started {
  child: ChildProcess;
  /** Resolves on exit status 0; rejects quoting the tool's stderr otherwise. */
  done: Promise<void>;
}

interface StartOptions {
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  cwd?: string;
  stdin?: 'ignore' | 'pipe';
  /** 'pipe' to read it, or an open file descriptor to write to. */
  stdout?: 'ignore' | 'pipe' | number;
}

function start(file: string, args: string[], options: StartOptions): Started {
  const child = spawn(file, args, {
    env: options.env,
    cwd: options.cwd,
    signal: options.signal,
    stdio: [options.stdin ?? 'ignore', options.stdout ?? 'ignore', 'pipe'],
  });
  const stderr = new StderrTail();
  child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk));
  const name = path.basename(file);
  const done = new Promise<void>((resolve, reject) => {
    let failure: Error | undefined;
    child.once('error', (error) => {
      failure = new Error(`${name}: ${error.message}`, { cause: error });
      // Never started: no 'close' will follow. Otherwise (an abort) wait for the exit, so the
      // run's directory is not deleted while the child is still writing into it.
      if (child.pid === undefined) reject(failure);
    });
    child.once('close', (code, signal) => {
      if (failure) return reject(failure);
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with status ${code}`;
      reject(new Error(`${name} ${args.join(' ')} ${how}: ${stderr.toString() || '(no stderr)'}`));
    });
  });
  return { child, done };
}

async function runTool(file: string, args: string[], options: StartOptions): Promise<void> {
  await start(file, args, options).done;
}

async function captureStdout(file: string, args: string[], options: StartOptions): Promise<string> {
  const started = start(file, args, { ...options, stdout: 'pipe' });
  const chunks: Buffer[] = [];
  started.child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  await started.done;
  return Buffer.concat(chunks).toString('utf8');
}

/** `pg_dump -Fp | gzip -6 > out`, with both exit statuses checked (a shell would drop pg_dump's). */
async function dumpThroughGzip(pgDump: string, env: NodeJS.ProcessEnv, out: string, signal: AbortSignal): Promise<void> {
  const fd = openSync(out, 'w', 0o600);
  let gzip: Started;
  let dump: Started;
  try {
    gzip = start('gzip', ['-6'], { env, signal, stdin: 'pipe', stdout: fd });
    dump = start(pgDump, ['-Fp'], { env, signal, stdout: 'pipe' });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  const stdout = dump.child.stdout;
  const stdin = gzip.child.stdin;
  if (!stdout || !stdin) throw new Error('pg_dump | gzip: pipes were not created');
  try {
    await Promise.all([dump.done, gzip.done, pipeline(stdout, stdin)]);
  } catch (error) {
    // One side failing leaves the other blocked on a pipe nobody serves any more.
    dump.child.kill('SIGTERM');
    gzip.child.kill('SIGTERM');
    await Promise.allSettled([dump.done, gzip.done]);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------
// The database being dumped

interface Subject {
  /** What the kit is given as DATABASE_URL. */
  url: string;
  target: Target;
  /** libpq environment for the raw tools: the password travels here, never in argv. */
  env: NodeJS.ProcessEnv;
  /** Where pg_dump and pgbench come from. */
  binDir: string;
  origin: 'throw-away cluster' | 'server from --url';
  close(): Promise<void>;
}

function subjectFor(url: string, binDir: string, origin: Subject['origin'], close: () => Promise<void>): Subject {
  const target = targetFromUrl(url, origin, 'bench');
  const env = { ...childEnv(target, process.env), PGAPPNAME: 'pg-backup-kit-bench' };
  return { url, target, env, binDir, origin, close };
}

async function withClient<T>(target: Target, work: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect(target);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function openSubject(options: BenchOptions, signal: AbortSignal): Promise<Subject> {
  if (options.url !== undefined) {
    const target = targetFromUrl(options.url, '--url', 'bench');
    const { major } = await withClient(target, serverFacts);
    // The pg_dump the kit itself would choose for this server, so both sides run the same one.
    const pgDump = await locateTool('pg_dump', major);
    return subjectFor(options.url, pgDump.dir, 'server from --url', async () => undefined);
  }
  progress('starting a throw-away PostgreSQL cluster');
  const cluster = await startCluster();
  try {
    signal.throwIfAborted();
    const admin = targetFromUrl(cluster.url('postgres'), 'cluster', 'bench');
    await withClient(admin, (client) => client.query(`CREATE DATABASE ${BENCH_DATABASE}`));
    return subjectFor(cluster.url(BENCH_DATABASE), cluster.binDir, 'throw-away cluster', () => cluster.destroy());
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
}

async function loadPgbenchData(subject: Subject, scale: number, signal: AbortSignal): Promise<void> {
  progress(`loading pgbench data at scale ${scale} (about ${scale * 15} MB)`);
  const began = performance.now();
  await runTool(path.join(subject.binDir, 'pgbench'), ['-i', '-s', String(scale), '--quiet'], { env: subject.env, signal });
  // Fresh statistics and visibility map, so no run pays for hint bits or autovacuum the others do not.
  await withClient(subject.target, (client) => client.query('VACUUM ANALYZE'));
  progress(`data loaded and vacuumed in ${seconds(performance.now() - began)} s`);
}

// ---------------------------------------------------------------------------------------------
// Cases

interface RunOutcome {
  /** The kit's own peak RSS, from its --json result. */
  peakRssBytes?: number;
  /** The kit's own duration from its --json result: wall time minus this is start-up cost. */
  innerMs?: number;
}

interface BenchCase {
  id: string;
  label: string;
  /** Untimed set-up in the run's directory, e.g. the dump a restore case restores. */
  prepare?(dir: string): Promise<void>;
  /** The timed work; everything it writes goes under `dir`, which is deleted afterwards. */
  run(dir: string): Promise<RunOutcome>;
  /** Untimed tidying after the run, e.g. dropping the database a restore case created. */
  cleanup?(dir: string): Promise<void>;
}

function kitEnv(url: string, dir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Only DATABASE_URL may say where to connect; a stray PGHOST or DB_HOST must not redirect the kit.
  for (const key of Object.keys(env)) {
    if ((key.startsWith('PG') && key !== 'PG_BIN') || (CONNECTION_VARIABLES as readonly string[]).includes(key)) delete env[key];
  }
  // A bench run inside a CI step must not publish its throw-away backups as step outputs.
  delete env.GITHUB_OUTPUT;
  return { ...env, DATABASE_URL: url, BACKUP_DIR: dir, LOG_FILE: path.join(dir, 'log') };
}

function parseKitResult(stdout: string): RunOutcome {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`the kit's --json output is not JSON: ${stdout.slice(0, 200)}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new Error('the kit printed no JSON object');
  const result = parsed as Record<string, unknown>;
  if (result.ok !== true) throw new Error(`the kit reported failure: ${JSON.stringify(result.error)}`);
  if (typeof result.peakRssBytes !== 'number' || typeof result.durationMs !== 'number') {
    throw new Error('the kit\'s JSON result lacks peakRssBytes or durationMs');
  }
  return { peakRssBytes: result.peakRssBytes, innerMs: result.durationMs };
}

function buildCases(subject: Subject, signal: AbortSignal): BenchCase[] {
  const pgDump = path.join(subject.binDir, 'pg_dump');
  const raw = (args: string[]) => runTool(pgDump, args, { env: subject.env, signal });
  const kit = (dir: string, formatArgs: string[]) => kitIn(dir, ['pg-backup', ...formatArgs, '--skip-space-check']);
  return [...backupCases(), ...restoreCases(subject, signal, kitIn)];

  function kitIn(dir: string, args: string[], url = subject.url): Promise<RunOutcome> {
    return captureStdout(process.execPath, [LAUNCHER, ...args, '--json', '--quiet'], { env: kitEnv(url, dir), cwd: REPO, signal }).then(parseKitResult);
  }

  function backupCases(): BenchCase[] {
    return [
      {
        id: 'raw-dump',
        label: 'raw pg_dump -Fc',
        run: async (dir) => {
          await raw(['-Fc', '-f', path.join(dir, 'out.dump')]);
          return {};
        },
      },
      {
        id: 'kit-dump',
        label: 'kit --format dump',
        run: (dir) => kit(dir, ['--format', 'dump']),
      },
      {
        id: 'kit-all',
        label: 'kit, all four formats',
        run: (dir) => kit(dir, []),
      },
      {
        id: 'naive-all',
        label: 'naive: 4 x pg_dump in sequence',
        run: async (dir) => {
          await raw(['-Fp', '-f', path.join(dir, 'out.sql')]);
          await dumpThroughGzip(pgDump, subject.env, path.join(dir, 'out.sql.gz'), signal);
          await raw(['-Fc', '-f', path.join(dir, 'out.dump')]);
          await raw(['-Ft', '-f', path.join(dir, 'out.tar')]);
          return {};
        },
      },
    ];
  }
}

/**
 * Restores of one kit backup (a .dump with statistics, so the kit checks row counts before
 * COMMIT) into a fresh empty database each run, against pg_restore doing the same. The safety
 * backup is left out: its cost is a backup's, measured above.
 */
function restoreCases(subject: Subject, signal: AbortSignal, kitIn: (dir: string, args: string[], url?: string) => Promise<RunOutcome>): BenchCase[] {
  const pgRestore = path.join(subject.binDir, 'pg_restore');
  const psql = path.join(subject.binDir, 'psql');
  const targets = new Map<string, string>();
  let counter = 0;
  const admin = (sql: string) => runTool(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { env: { ...subject.env, PGDATABASE: 'postgres' }, signal });
  const urlOf = (database: string) => {
    const url = new URL(subject.url);
    url.pathname = `/${encodeURIComponent(database)}`;
    return url.toString();
  };
  const dumpOf = (dir: string) => path.join(dir, 'default', readdirSync(path.join(dir, 'default')).find((f) => f.endsWith('.dump'))!);
  const prepare = async (dir: string) => {
    await kitIn(dir, ['pg-backup', '--format', 'dump', '--stats', 'archive', '--skip-space-check']);
    const database = `bench_restore_${process.pid}_${++counter}`;
    await admin(`CREATE DATABASE ${database}`);
    targets.set(dir, database);
  };
  const cleanup = async (dir: string) => {
    const database = targets.get(dir);
    if (!database) return;
    targets.delete(dir);
    // the kit's --jobs swap leaves the restored copy under the target's name
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  };
  const raw = async (dir: string, args: string[]): Promise<RunOutcome> => {
    await runTool(pgRestore, ['--exit-on-error', `--dbname=${targets.get(dir)!}`, ...args, dumpOf(dir)], { env: subject.env, signal });
    return {};
  };
  const kit = (dir: string, args: string[]) => kitIn(dir, ['pg-restore', dumpOf(dir), '--force', '--no-safety-backup', ...args], urlOf(targets.get(dir)!));
  return [
    { id: 'raw-restore', label: 'raw pg_restore --single-transaction', prepare, cleanup, run: (dir) => raw(dir, ['--single-transaction']) },
    { id: 'kit-restore', label: 'kit restore (one transaction)', prepare, cleanup, run: (dir) => kit(dir, []) },
    { id: 'raw-restore-j2', label: 'raw pg_restore -j 2', prepare, cleanup, run: (dir) => raw(dir, ['--jobs=2']) },
    { id: 'kit-restore-j2', label: 'kit restore --jobs 2 (swap)', prepare, cleanup, run: (dir) => kit(dir, ['--jobs', '2']) },
  ];
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface CaseResult {
  id: string;
  label: string;
  seconds: number[];
  medianSeconds: number;
  /** Bytes left in the run's directory (artifacts plus the kit's metadata), from the last run. */
  outputBytes: number;
  peakRssBytes: number | undefined;
  innerMedianSeconds: number | undefined;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const upper = sorted[mid] ?? NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[mid - 1] ?? NaN) + upper) / 2;
}

/** Rounded to the millisecond first, so progress lines, table and JSON show the same digits. */
function roundSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

function seconds(ms: number): string {
  return roundSeconds(ms).toFixed(2);
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
  };
}

/**
 * Round-robin (every case once, then again) rather than case by case, so drift on the machine
 * (cache warming, a noisy neighbour) spreads over all cases instead of landing on one.
 */
async function measure(cases: BenchCase[], runs: number): Promise<CaseResult[]> {
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.id, []]));
  for (let run = 1; run <= runs; run++) {
    for (const benchCase of cases) {
      const sample = await runOnce(benchCase);
      samples.get(benchCase.id)?.push(sample);
      progress(`run ${run}/${runs} ${benchCase.label}: ${seconds(sample.ms)} s`);
    }
  }
  return cases.map((c) => summarise(c, samples.get(c.id) ?? []));
}

/**
 * The launcher bundles the kit on first use after a change and caches the bundle; without a
 * warm-up the first timed kit run would carry that one-off cost, which no user pays twice.
 */
async function warmUpKit(signal: AbortSignal): Promise<void> {
  await captureStdout(process.execPath, [LAUNCHER, 'pg-backup', '--help'], { env: process.env, cwd: REPO, signal });
}

// ---------------------------------------------------------------------------------------------
// Checks against targets

interface Check {
  label: string;
  target: string;
  value: number | undefined;
  pass: boolean;
}

function caseById(results: CaseResult[], id: string): CaseResult | undefined {
  return results.find((r) => r.id === id);
}

function ratioCheck(results: CaseResult[], label: string, numerator: string, denominator: string, max: number): Check {
  const top = caseById(results, numerator)?.medianSeconds;
  const bottom = caseById(results, denominator)?.medianSeconds;
  const value = top !== undefined && bottom !== undefined && bottom > 0 ? top / bottom : undefined;
  return { label, target: `<= ${max.toFixed(2)}`, value, pass: value !== undefined && value <= max };
}

function checksFor(results: CaseResult[]): Check[] {
  const rss = results.map((r) => r.peakRssBytes).filter((v): v is number => v !== undefined);
  const peakMb = rss.length ? Math.max(...rss) / MB : undefined;
  return [
    ratioCheck(results, 'kit dump / raw pg_dump -Fc', 'kit-dump', 'raw-dump', 1.05),
    ratioCheck(results, 'kit all four / naive sequential', 'kit-all', 'naive-all', 0.75),
    ratioCheck(results, 'kit restore / raw --single-transaction', 'kit-restore', 'raw-restore', 1.1),
    ratioCheck(results, 'kit restore --jobs 2 / raw -j 2', 'kit-restore-j2', 'raw-restore-j2', 1.1),
    { label: 'kit peak RSS, MB (max over runs)', target: '< 150', value: peakMb, pass: peakMb !== undefined && peakMb < 150 },
  ];
}

// ---------------------------------------------------------------------------------------------
// Facts and output

interface Facts {
  nproc: number;
  cpuModel: string;
  totalMemoryBytes: number;
  kernel: string;
  node: string;
  serverVersion: string;
  pgDump: string;
  tempDir: string;
  database: { origin: Subject['origin']; name: string; sizeBytes: number; pgbenchScale: number | undefined };
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

async function gatherFacts(subject: Subject, scale: number | undefined, signal: AbortSignal): Promise<Facts> {
  const server = await withClient(subject.target, serverFacts);
  const pgDumpPath = path.join(subject.binDir, 'pg_dump');
  const pgDumpVersion = (await captureStdout(pgDumpPath, ['--version'], { env: process.env, signal })).trim();
  return {
    nproc: availableParallelism(),
    cpuModel: cpuModel(),
    totalMemoryBytes: totalmem(),
    kernel: `${process.platform} ${release()}`,
    node: process.version,
    serverVersion: server.version,
    pgDump: `${pgDumpVersion} (${pgDumpPath})`,
    tempDir: tmpdir(),
    database: { origin: subject.origin, name: subject.target.database, sizeBytes: server.databaseSize, pgbenchScale: scale },
  };
}

function table(rows: string[][], rightAligned: number[]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((row) =>
    row.map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd(),
  );
}

function renderText(facts: Facts, runs: number, results: CaseResult[], checks: Check[]): string {
  const gb = (bytes: number) => (bytes / 1e9).toFixed(1);
  const db = facts.database;
  const lines = [
    `Machine:    ${facts.nproc} CPUs (${facts.cpuModel}), ${gb(facts.totalMemoryBytes)} GB RAM, ${facts.kernel}, Node ${facts.node}`,
    `PostgreSQL: server ${facts.serverVersion}; ${facts.pgDump}`,
    `Database:   ${db.name} (${db.origin}), ${(db.sizeBytes / MB).toFixed(1)} MB${db.pgbenchScale !== undefined ? ` (pgbench scale ${db.pgbenchScale})` : ''}`,
    `Method:     wall-clock median of ${runs} run(s) per case, cases interleaved, output under ${facts.tempDir}`,
    '',
    ...table(
      [
        ['case', 'median s', 'runs s', 'kit-internal s', 'output MB', 'kit peak RSS MB'],
        ...results.map((r) => [
          r.label,
          r.medianSeconds.toFixed(2),
          r.seconds.map((s) => s.toFixed(2)).join(' '),
          r.innerMedianSeconds?.toFixed(2) ?? '-',
          (r.outputBytes / MB).toFixed(1),
          r.peakRssBytes !== undefined ? (r.peakRssBytes / MB).toFixed(1) : '-',
        ]),
      ],
      [1, 3, 4, 5],
    ),
    'kit-internal = the durationMs the kit reports itself; the rest of its wall time is Node start-up and connecting.',
    '',
    ...table(
      [
        ['check', 'value', 'target', 'result'],
        ...checks.map((c) => [c.label, c.value?.toFixed(2) ?? 'n/a', c.target, c.pass ? 'PASS' : 'MISS']),
      ],
      [1],
    ),
  ];
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------

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

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (!options) return;
  const signal = trapSignals();
  const subject = await openSubject(options, signal);
  try {
    const loads = options.url === undefined || options.init;
    if (loads) await loadPgbenchData(subject, options.scale, signal);
    const facts = await gatherFacts(subject, loads ? options.scale : undefined, signal);
    progress(`database ${facts.database.name}: ${(facts.database.sizeBytes / MB).toFixed(1)} MB`);
    await warmUpKit(signal);
    const results = await measure(buildCases(subject, signal), options.runs);
    const checks = checksFor(results);
    process.stdout.write(options.json ? JSON.stringify({ facts, runs: options.runs, cases: results, checks }, null, 2) + '\n' : renderText(facts, options.runs, results, checks));
  } finally {
    if (subject.origin === 'throw-away cluster') progress('destroying the throw-away cluster');
    await subject.close();
  }
}

main().catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`bench: ${error.message}\nRun "pnpm bench --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  process.stderr.write(`bench: error: ${redact(error instanceof Error ? error.message : String(error))}\n`);
  process.exitCode = 1;
});
