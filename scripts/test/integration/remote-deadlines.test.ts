/**
 * An object store that does not answer, against real sockets on loopback: a listener that
 * accepts and never replies, one that sends half a response and falls silent, and a TCP proxy in
 * front of the real S3 test server that cuts the connection (or starts dropping every byte)
 * part-way through an upload. Every run ends: exit 20 naming the endpoint and the deadline that
 * passed, or exit 130 at SIGTERM, and the environment's lock is free for the next backup.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveRemote } from '../../lib/config/remote.js';
import { RemoteBucket } from '../../lib/store/drivers/s3/objects.js';
import { backupDir, cli, createDatabase, makeProject, startCli, waitFor, type TestDatabase } from '../support/harness.js';
import { startS3Server, type S3Server } from '../support/s3-server.js';

let s3: S3Server;
let source: TestDatabase;
const servers: Fake[] = [];

beforeAll(async () => {
  s3 = await startS3Server();
  // About 1.3 MB of plain SQL: an upload long enough to be cut part-way.
  source = await createDatabase({ sql: 'CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) || md5((g * 3)::text) FROM generate_series(1, 20000) g' });
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await s3?.stop();
});

interface Fake {
  endpoint: string;
  /** Bytes the kit has sent so far. */
  received(): number;
  close(): Promise<void>;
}

/** A listener on loopback; `onConnection` decides what each connection gets. */
async function listen(onConnection: (socket: net.Socket, track: (s: net.Socket) => void) => void, received: () => number): Promise<Fake> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  };
  const server = net.createServer((socket) => {
    track(socket);
    onConnection(socket, track);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const fake: Fake = {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    received,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(fake);
  return fake;
}

/** Accepts, reads every byte, answers nothing. */
function silentStore(): Promise<Fake> {
  let bytes = 0;
  return listen((socket) => socket.on('data', (chunk: Buffer) => (bytes += chunk.length)), () => bytes);
}

/** Answers each request with a status line, headers and the start of a body it never finishes. */
function halfAnsweringStore(): Promise<Fake> {
  let bytes = 0;
  return listen((socket) => {
    socket.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: 4096\r\n\r\n<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult><Name>');
    });
  }, () => bytes);
}

/**
 * Forwards to the real S3 test server until the kit has sent `cutAfter` bytes in all, then
 * either resets every connection and refuses new ones ('reset'), or keeps them open and drops
 * every byte both ways, as a firewall that starts dropping packets does ('drop').
 */
function cuttingProxy(cutAfter: number, mode: 'reset' | 'drop'): Promise<Fake> {
  let bytes = 0;
  let cut = false;
  const all = new Set<net.Socket>();
  return listen((client, track) => {
    all.add(client);
    if (cut) {
      if (mode === 'reset') client.destroy();
      else client.on('data', () => undefined);
      return;
    }
    const upstream = net.connect(s3.port, '127.0.0.1');
    track(upstream);
    all.add(upstream);
    client.on('data', (chunk: Buffer) => {
      if (cut) return;
      bytes += chunk.length;
      if (bytes < cutAfter) {
        upstream.write(chunk);
        return;
      }
      cut = true;
      if (mode === 'reset') for (const s of all) s.destroy();
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!cut) client.write(chunk);
    });
    upstream.on('close', () => {
      if (!cut) client.destroy();
    });
    client.on('close', () => upstream.destroy());
  }, () => bytes);
}

function project(endpoint: string, deadlines: Record<string, number>): string {
  return makeProject({ 'backup-kit.json': JSON.stringify({ remote: { url: `s3://${s3.bucket}/deadlines`, endpoint, ...deadlines } }) });
}

const credentials = (): NodeJS.ProcessEnv => ({ DATABASE_URL: source.url, ...s3.credentials });

/** The same project without its remote: a plain local backup, which a held lock would refuse (exit 9). */
async function expectLocalBackupRuns(dir: string): Promise<void> {
  expect(existsSync(path.join(backupDir(dir), '.lock'))).toBe(false);
  writeFileSync(path.join(dir, 'backup-kit.json'), '{}');
  const local = await cli('pg-backup', ['--format', 'dump'], { cwd: dir, env: credentials() });
  expect(local.code, local.stderr).toBe(0);
}

/** Objects in the real bucket under this test's prefix, read past the proxy. */
async function bucketNames(): Promise<string[]> {
  const bucket = new RemoteBucket(resolveRemote({ root: mkdtempSync(path.join(tmpdir(), 'pgkit-b-')), env: 'default', processEnv: s3.credentials, remote: `s3://${s3.bucket}/deadlines`, endpoint: s3.endpoint })!);
  try {
    return (await bucket.list()).map((o) => o.name);
  } finally {
    bucket.close();
  }
}

/** Every .info left on this machine belongs to a backup whose files all check out. */
function expectNothingHalfDone(dir: string): void {
  const files = existsSync(backupDir(dir)) ? readdirSync(backupDir(dir)) : [];
  for (const info of files.filter((f) => f.endsWith('.info'))) {
    execFileSync('sha256sum', ['-c', info.replace(/\.info$/, '.sha256')], { cwd: backupDir(dir) });
  }
}

const quick = { connectTimeoutSeconds: 1, requestTimeoutSeconds: 1, attempts: 2 };
// Long enough that only the signal can end the run inside the test's own time limit.
const patient = { connectTimeoutSeconds: 600, requestTimeoutSeconds: 600, attempts: 3 };

describe('a store that accepts connections and never answers', () => {
  it('db:list and db:backup give up after the configured deadline with exit 20 naming the endpoint; the lock is free afterwards', async () => {
    const store = await silentStore();
    const dir = project(store.endpoint, quick);
    const list = await cli('list', [], { cwd: dir, env: credentials() });
    expect(list.code, list.stderr).toBe(20);
    expect(list.stderr).toContain(`The object store at ${store.endpoint} went silent for 1 s in the middle of a request while listing backups (2 tries)`);
    expect(list.stderr).toMatch(/raise remote\.requestTimeoutSeconds in backup-kit\.json/);

    const backup = await cli('pg-backup', ['--json'], { cwd: dir, env: credentials() });
    expect(backup.code, backup.stderr).toBe(20);
    expect(backup.json<{ error: { code: string; message: string } }>().error).toMatchObject({ code: 'REMOTE_UNREACHABLE', message: expect.stringContaining(store.endpoint) as string });
    expect(store.received()).toBeGreaterThan(0);
    expectNothingHalfDone(dir);
    await expectLocalBackupRuns(dir);
  });

  it('a store that sends half an answer and falls silent: exit 20, not a hang', async () => {
    const store = await halfAnsweringStore();
    const dir = project(store.endpoint, quick);
    const list = await cli('list', [], { cwd: dir, env: credentials() });
    expect(list.code, list.stderr).toBe(20);
    expect(list.stderr).toContain(`The object store at ${store.endpoint} went silent for 1 s`);
  });

  it.each([
    ['db:list, to a silent store', 'list', silentStore],
    ['db:list, to a half answer', 'list', halfAnsweringStore],
    ['db:backup, to a silent store (holding the lock)', 'pg-backup', silentStore],
  ] as const)('SIGTERM during the wait ends %s with exit 130 and its cleanup', async (_what, script, start) => {
    const store = await start();
    const dir = project(store.endpoint, patient);
    const run = startCli(script, [], { cwd: dir, env: credentials() });
    await waitFor('the kit to send its request', () => store.received() > 0);
    if (script === 'pg-backup') expect(existsSync(path.join(backupDir(dir), '.lock'))).toBe(true);
    run.child.kill('SIGTERM');
    const ended = await run.result;
    expect(ended.code, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(/Interrupted/);
    expectNothingHalfDone(dir);
    await expectLocalBackupRuns(dir);
  });
});

describe('a connection lost part-way through an upload (a proxy in front of the real store)', () => {
  it.each(['reset', 'drop'] as const)('%s: the backup stays complete on this machine, exit 20, nothing complete-looking in the bucket', async (mode) => {
    const proxy = await cuttingProxy(256 * 1024, mode);
    const dir = project(proxy.endpoint, quick);
    const run = await cli('pg-backup', ['--json', '--format', 'sql'], { cwd: dir, env: credentials() });
    expect(run.code, run.stderr).toBe(20);
    expect(run.json<{ error: { code: string } }>().error.code).toBe('REMOTE_UNREACHABLE');
    expect(run.stderr).toContain(proxy.endpoint);
    expect(readdirSync(backupDir(dir)).filter((f) => f.endsWith('.info'))).toHaveLength(1);
    expectNothingHalfDone(dir);
    expect((await bucketNames()).filter((n) => n.endsWith('.info'))).toEqual([]);
    expect(existsSync(path.join(backupDir(dir), '.lock'))).toBe(false);
  });

  it('SIGTERM while the dropped upload waits: exit 130, the lock is free, nothing complete-looking in the bucket', async () => {
    const proxy = await cuttingProxy(256 * 1024, 'drop');
    const dir = project(proxy.endpoint, patient);
    const run = startCli('pg-backup', ['--format', 'sql'], { cwd: dir, env: credentials() });
    await waitFor('the upload to be cut', () => proxy.received() >= 256 * 1024);
    run.child.kill('SIGTERM');
    const ended = await run.result;
    expect(ended.code, ended.stderr).toBe(130);
    expectNothingHalfDone(dir);
    expect((await bucketNames()).filter((n) => n.endsWith('.info'))).toEqual([]);
    await expectLocalBackupRuns(dir);
  });
});
