/**
 * The restore walk, measured: `db:restore -- --latest --from-remote` from an S3-compatible server
 * on loopback (s3rver, as the integration tests use), on a database of generated rows. For each
 * artifact kind (.dump, .sql.gz) it reports the connections the kit opened (KIT_TRACE), the
 * connections the server accepted (log_connections: the kit plus its pg_dump/psql/pg_restore
 * children), tool-version probes, hash passes over each downloaded artifact, and wall time.
 *
 *   pnpm exec tsx scripts/bench/restore-walk.ts [--mb 512] [--with-roles] [--json]
 *
 * Run it before and after a change to the restore; it needs no setup beyond `pnpm install` and
 * PostgreSQL's server binaries (the same as the integration tests).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startCluster, type Cluster } from '../lib/engines/postgres/cluster.js';
import { parseTrace, type TraceCounts } from '../lib/proc/trace.js';
import { startS3Server, type S3Server } from '../test/support/s3-server.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const LAUNCHER = path.join(REPO, 'scripts/kit.mjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function kit(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<Run> {
  const started = Date.now();
  const child = spawn(process.execPath, [LAUNCHER, '--', ...args], { cwd, env: { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

function must(run: Run, what: string): Run {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}: ${run.stderr.slice(-3000)}`);
  return run;
}

async function sql(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** About `mb` MiB of table data: rows of two md5 strings and a number (gzip gets roughly 2:1). */
async function fill(cluster: Cluster, database: string, mb: number): Promise<void> {
  await sql(cluster.url(), `CREATE DATABASE ${database}`);
  const rows = Math.round((mb * 1024 * 1024) / 110);
  await sql(cluster.url(database), `CREATE TABLE walk (id bigint PRIMARY KEY, a text, b text, n double precision); ALTER TABLE walk OWNER TO walk_owner;
    INSERT INTO walk SELECT g, md5(g::text), md5((g * 7)::text), random() FROM generate_series(1, ${rows}) g`);
}

/** Server-side connection count: "connection authorized" lines the server logged since `from`. */
function connectionsLogged(logFile: string, from: number): number {
  return readFileSync(logFile).subarray(from).toString().split('\n').filter((l) => l.includes('connection authorized')).length;
}

interface Measured {
  artifact: string;
  bytes: number;
  seconds: number;
  kitConnections: number;
  kitConnectionsByDatabase: Record<string, number>;
  serverConnections: number;
  probes: number;
  probesByTool: Record<string, number>;
  hashPassesOverArtifact: number;
  hashPasses: TraceCounts['hashPasses'];
}

async function measure(format: 'dump' | 'sql.gz', mb: number, withRoles: boolean, cluster: Cluster, s3: S3Server): Promise<Measured> {
  const project = mkdtempSync(path.join(tmpdir(), 'pgkit-walk-'));
  mkdirSync(path.join(project, 'packages/database'), { recursive: true });
  writeFileSync(path.join(project, 'backup-kit.json'), JSON.stringify({ remote: { url: `s3://${s3.bucket}/walk-${format.replace('.', '')}`, endpoint: s3.endpoint } }));
  const source = `walk_src_${format.replace('.', '')}`;
  await fill(cluster, source, mb);
  // A dump alone records its statistics by reading the archive back, as a plain format would.
  const backup = must(await kit(['pg-backup', '--format', format, ...(format === 'dump' ? ['--stats', 'archive'] : []), '--json', '--quiet'], project, { ...s3.credentials, DATABASE_URL: cluster.url(source) }), 'the backup');
  const id = (JSON.parse(backup.stdout) as { id: string }).id;
  // The local copy goes: the restore reads the bucket alone, as after a lost laptop.
  rmSync(path.join(project, 'backups'), { recursive: true, force: true });
  const target = `walk_dst_${format.replace('.', '')}`;
  await sql(cluster.url(), `CREATE DATABASE ${target}`);
  const logFile = path.join(path.dirname(cluster.dataDir), 'server.log');
  const logFrom = statSync(logFile).size;
  const args = ['pg-restore', '--latest', '--from-remote', '--force', '--json', '--quiet', ...(withRoles ? ['--with-roles'] : [])];
  const restore = must(await kit(args, project, { ...s3.credentials, DATABASE_URL: cluster.url(target), KIT_TRACE: '1' }), 'the restore');
  // The server writes its log line as it accepts; give it a moment to reach the file.
  await new Promise((r) => setTimeout(r, 500));
  const trace = parseTrace(restore.stderr);
  if (!trace) throw new Error(`the restore printed no kit-trace line: ${restore.stderr.slice(-1000)}`);
  const file = `${id}.${format}`;
  const stored = (JSON.parse(backup.stdout) as { files: Array<{ path: string; bytes: number }> }).files.find((f) => f.path.endsWith(file));
  rmSync(project, { recursive: true, force: true });
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  return {
    artifact: format,
    bytes: stored?.bytes ?? 0,
    seconds: restore.ms / 1000,
    kitConnections: sum(trace.connections),
    kitConnectionsByDatabase: trace.connections,
    serverConnections: connectionsLogged(logFile, logFrom),
    probes: sum(trace.probes),
    probesByTool: trace.probes,
    hashPassesOverArtifact: trace.hashPasses[file] ?? 0,
    hashPasses: trace.hashPasses,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { mb: { type: 'string', default: '512' }, 'with-roles': { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, format: { type: 'string', multiple: true } } });
  const mb = Number(values.mb);
  const formats = (values.format ?? ['dump', 'sql.gz']) as Array<'dump' | 'sql.gz'>;
  const cluster = await startCluster({ settings: { log_connections: 'on' } });
  const s3 = await startS3Server('kit-backups', REPO);
  try {
    // A role of the backup's own: --with-roles has one to find in globals.sql.
    await sql(cluster.url(), 'CREATE ROLE walk_owner');
    const results: Measured[] = [];
    for (const format of formats) results.push(await measure(format, mb, values['with-roles'] === true, cluster, s3));
    if (values.json) {
      process.stdout.write(JSON.stringify({ mb, withRoles: values['with-roles'], results }, null, 2) + '\n');
      return;
    }
    process.stdout.write(`restore --latest --from-remote${values['with-roles'] ? ' --with-roles' : ''}, ${mb} MiB of table data\n`);
    process.stdout.write('artifact  size       time     kit conns  server conns  probes  hash passes (artifact)\n');
    for (const r of results) {
      process.stdout.write(`${r.artifact.padEnd(8)}  ${(r.bytes / 1024 / 1024).toFixed(0).padStart(5)} MiB  ${r.seconds.toFixed(1).padStart(6)} s  ${String(r.kitConnections).padStart(9)}  ${String(r.serverConnections).padStart(12)}  ${String(r.probes).padStart(6)}  ${r.hashPassesOverArtifact}\n`);
      process.stdout.write(`          kit conns ${JSON.stringify(r.kitConnectionsByDatabase)}; probes ${JSON.stringify(r.probesByTool)}; hashes ${JSON.stringify(r.hashPasses)}\n`);
    }
  } finally {
    await s3.stop();
    await cluster.destroy();
  }
}

await main();
