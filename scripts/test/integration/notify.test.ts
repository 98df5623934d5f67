import { createServer, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/engines/postgres/cluster.js';
import { cli, createDatabase, makeProject, urlFor } from '../support/harness.js';

describe('notifications for cron', () => {
  const received: Array<Record<string, unknown>> = [];
  let url = '';
  const server = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({ path: req.url, type: req.headers['content-type'], ...(JSON.parse(body) as Record<string, unknown>) });
      res.writeHead(200).end('ok');
    });
  });
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/hooks/T000/B000/secret-token`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('--notify POSTs JSON when a backup fails, without the password or the webhook token', async () => {
    received.length = 0;
    const project = makeProject();
    const down = urlFor('app', { port: await freePort(), password: 'db-secret-pw' });
    const run = await cli('pg-backup', ['--type', 'auto', '--quiet', '--notify', url], { cwd: project, env: { DATABASE_URL: down } });
    expect(run.code).toBe(4);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ path: '/hooks/T000/B000/secret-token', type: 'application/json', command: 'backup', outcome: 'failure', exitCode: 4, environment: 'default', error: { code: 'SERVER_UNREACHABLE' } });
    expect(String(received[0]!.text)).toMatch(/^pg-backup-kit backup on .* FAILED \(exit 4\): No PostgreSQL server answers/);
    expect(JSON.stringify(received[0])).not.toContain('db-secret-pw');
    expect(run.stderr).not.toContain('secret-token');
  });

  it('NOTIFY_URL with --notify-success reports success too; without it, success is quiet', async () => {
    received.length = 0;
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const project = makeProject();
    const quiet = await cli('pg-backup', ['--quiet', '--format', 'dump'], { cwd: project, env: { DATABASE_URL: db.url, NOTIFY_URL: url } });
    expect(quiet.code).toBe(0);
    expect(received).toHaveLength(0);
    const loud = await cli('pg-backup', ['--quiet', '--format', 'dump', '--notify-success'], { cwd: project, env: { DATABASE_URL: db.url, NOTIFY_URL: url } });
    expect(loud.code).toBe(0);
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ command: 'backup', outcome: 'success', exitCode: 0 });
    expect(String(received[0]!.text)).toMatch(/succeeded: \{"id":"backup_manual_\d+_\d+(_\d+)?"/);
  });

  it('an unreachable webhook is a warning, not a new failure', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int)' });
    const run = await cli('pg-backup', ['--format', 'dump', '--notify-success', '--notify', `http://127.0.0.1:${await freePort()}/x`], { cwd: makeProject(), env: { DATABASE_URL: db.url } });
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(/warning: could not send the notification/);
  });
});
