/**
 * `--wait` retries the connection for as long as it is told; a signal must still end it. A port
 * nothing listens on (taken from the system, then closed) is a server that is not there.
 */
import { existsSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backupDir, cli, createDatabase, makeProject, startCli, urlFor, waitFor } from '../support/harness.js';

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('waiting for a server that is not there', () => {
  it('SIGTERM ends db:backup --wait 600 with exit 130, and the lock is free for the next backup', async () => {
    const dir = makeProject();
    const nowhere = urlFor('postgres', { host: '127.0.0.1', port: await closedPort() });
    const run = startCli('pg-backup', ['--wait', '600'], { cwd: dir, env: { DATABASE_URL: nowhere } });
    await waitFor('the kit to wait for the server', () => run.output().stderr.includes('waiting for the server'));
    expect(existsSync(path.join(backupDir(dir), '.lock'))).toBe(true);
    run.child.kill('SIGTERM');
    const ended = await run.result;
    expect(ended.code, ended.stderr).toBe(130);
    expect(ended.stderr).toMatch(/Interrupted while waiting for the server at 127\.0\.0\.1:\d+/);
    expect(existsSync(path.join(backupDir(dir), '.lock'))).toBe(false);

    const source = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const next = await cli('pg-backup', [], { cwd: dir, env: { DATABASE_URL: source.url } });
    expect(next.code, next.stderr).toBe(0);
  });
});
