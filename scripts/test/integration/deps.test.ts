import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { planInstall } from '../../lib/deps/deps.js';
import { cli, createDatabase, makeProject, urlFor } from '../support/harness.js';
import { freePort } from '../../lib/engines/postgres/cluster.js';

describe('db:deps', () => {
  it('--check lists the tools and says each environment fits → 0', async () => {
    const db = await createDatabase();
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n`, 'packages/database/.env.example': 'DATABASE_URL=postgresql://u:p@h/d\n' });
    const run = await cli('deps', ['--check'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^ {2}pg_dump {5}1\d\.\d+ +\/\S+\/pg_dump$/m);
    expect(run.stdout).toMatch(/^ {2}dev +postgres@127\.0\.0\.1:\d+\/t_\w+: PostgreSQL 1\d \(.*\); fits: pg_dump 1\d\.\d+ \(\S+\), pg_restore .*, psql /m);
    expect(run.stdout).not.toMatch(/example/);
  });

  it('a pg_dump too old for a server → 7, naming what to run', async () => {
    const db = await createDatabase();
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const fakeBin = mkdtempSync(path.join(tmpdir(), 'pgkit-oldtools-'));
    for (const tool of ['pg_dump', 'pg_restore', 'psql']) writeFileSync(path.join(fakeBin, tool), `#!/bin/sh\necho "${tool} (PostgreSQL) 12.22"\n`, { mode: 0o755 });
    const run = await cli('deps', [], { cwd: project, env: { PG_BIN: fakeBin } });
    expect(run.code).toBe(7);
    expect(run.stdout).toMatch(/dev .*PostgreSQL 1\d .*DOES NOT FIT: no pg_dump, pg_restore, psql of version 1\d or newer/);
    expect(run.stderr).toMatch(/Client tools do not fit: dev \(PostgreSQL 1\d\): .*pnpm db:deps -- --install/);
  });

  it('an environment whose server is down cannot be checked → 4', async () => {
    const project = makeProject({ 'packages/database/.env.staging': `DATABASE_URL=${urlFor('x', { port: await freePort() })}\n` });
    const run = await cli('deps', [], { cwd: project });
    expect(run.code).toBe(4);
    expect(run.stdout).toMatch(/staging .*cannot check \(No PostgreSQL server answers/);
  });
});

describe('what --install would run', () => {
  it.each([
    ['linux', [16], true, false, true, false, ['apt-get update', 'apt-get install -y postgresql-client-16'], true],
    ['linux', [16, 17], true, false, false, true, ['sudo apt-get update', 'sudo apt-get install -y postgresql-client-16 postgresql-client-17'], true],
    ['linux', [16], true, false, false, false, ['sudo apt-get update', 'sudo apt-get install -y postgresql-client-16'], false],
    ['darwin', [17], false, true, false, false, ['brew install postgresql@17'], true],
    ['linux', [], true, false, true, false, [], true],
  ] as const)('%s, majors %j, apt %s, brew %s, root %s, sudo %s', (platform, majors, apt, brew, root, sudo, commands, runnable) => {
    expect(planInstall(platform, [...majors], apt, brew, root, sudo)).toMatchObject({ commands: [...commands], runnable });
  });
});
