/**
 * Every command ends when its work ends. The harness runs each command as a test build
 * (KIT_EXIT_CHECK): one that has printed its result but is still alive a few seconds later names
 * what it holds open and the test fails. These tests show the check catches a real leak, and that
 * the restore's progress watcher no longer leaks a connection it was still opening when the
 * restore ended.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cluster, createDatabase, makeProject, query, startCli, urlFor } from '../support/harness.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/**
 * A TCP proxy to the cluster that holds every new connection for `delayMs` before passing it on:
 * a server slow to accept, so the restore's progress polls are still connecting when it ends.
 */
async function slowProxy(delayMs: number): Promise<number> {
  const { host, port } = cluster();
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    open.add(client);
    client.pause();
    const timer = setTimeout(() => {
      const upstream = net.connect(port, host);
      open.add(upstream);
      client.pipe(upstream).pipe(client);
      client.resume();
      const close = () => (client.destroy(), upstream.destroy());
      upstream.on('error', close).on('close', close);
      client.on('close', close);
    }, delayMs);
    client.on('error', () => client.destroy());
    client.on('close', () => clearTimeout(timer));
  });
  // closing the server also ends what is still passing through it
  const close = server.close.bind(server);
  server.close = (callback) => {
    for (const socket of open) socket.destroy();
    return close(callback);
  };
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

describe('the exit check', () => {
  it('fails a run that keeps a connection open after its result, naming the connection', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 10) AS id' });
    const project = makeProject();
    const running = startCli('pg-backup', ['--format', 'sql'], { cwd: project, env: { DATABASE_URL: db.url, KIT_EXIT_CHECK_LEAK: 'connection' } });
    const { port } = cluster();
    await expect(running.result).rejects.toThrow(new RegExp(`did not exit after its work ended; still open:[\\s\\S]*Socket connected to [^\\n]*:${port} `));
    expect(running.child.exitCode).toBe(99);
    // the backup itself was done and reported before the check fired
    expect(running.output().stdout).toMatch(/Backup backup_manual_\d+_\d+ of t_\w+ \(default\) complete/);
  });

  it('leaves a normal run alone (the leak hook is inert without the test variable)', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT generate_series(1, 10) AS id' });
    const project = makeProject();
    const run = await cli('pg-backup', ['--format', 'sql'], { cwd: project, env: { DATABASE_URL: db.url, KIT_EXIT_CHECK_LEAK: 'connection', KIT_EXIT_CHECK: '' } });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('kit-exit-check');
  });
});

describe('a restore on a server slow to accept connections', () => {
  it('exits once it has reported success: the progress poll still connecting is awaited and closed', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t AS SELECT g AS id, repeat(\'x\', 100) AS pad FROM generate_series(1, 20000) g' });
    const project = makeProject();
    const backup = await cli('pg-backup', ['--format', 'sql', '--json'], { cwd: project, env: { DATABASE_URL: db.url } });
    expect(backup.code, backup.stderr).toBe(0);
    const target = await createDatabase();
    // every connection waits 3 s, polls start every second: one is always mid-connect at the end
    const proxyPort = await slowProxy(3000);
    const url = urlFor(target.name, { host: '127.0.0.1', port: proxyPort });
    const restore = await cli('pg-restore', [backup.json<{ id: string }>().id, '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: url } });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await query(target.url, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 20000 }]);
  });
});
