import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { DropResult } from '../../lib/drop/drop.js';
import { fingerprint } from '../support/backups.js';
import { cli, createDatabase, makeProject, query, urlFor } from '../support/harness.js';

/** A database owned by an ordinary login role, filled by that role. */
async function ownedByApp() {
  const role = `app_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const admin = await createDatabase();
  await query(admin.url, `CREATE ROLE ${role} LOGIN PASSWORD '${password}'; CREATE ROLE ${role}_reader; ALTER DATABASE ${admin.name} OWNER TO ${role}`);
  const url = urlFor(admin.name, { user: role, password });
  await query(url, `CREATE SCHEMA app;
                    CREATE TABLE public.users (id int PRIMARY KEY, name text); INSERT INTO public.users VALUES (1, 'ada'), (2, 'grace');
                    CREATE TABLE app.items (id serial PRIMARY KEY, user_id int REFERENCES public.users); INSERT INTO app.items (user_id) VALUES (1), (2), (2);
                    GRANT USAGE ON SCHEMA public TO ${role}_reader;
                    COMMENT ON SCHEMA public IS 'the app''s schema';`);
  return { admin, url, role };
}

const publicSchema = (url: string) => query(url, `SELECT nspowner::regrole::text AS owner, nspacl::text AS acl, obj_description(oid, 'pg_namespace') AS comment FROM pg_namespace WHERE nspname = 'public'`);

describe('db:drop', () => {
  it('as a database owner who is not a superuser: backs up, empties, keeps public\'s owner and privileges, and can be undone', async () => {
    const { admin, url } = await ownedByApp();
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${url}\n` });
    const before = await fingerprint(admin.url);
    const publicBefore = await publicSchema(admin.url);
    const run = await cli('drop-all', ['--env', 'dev', '--yes', '--json'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    const result = run.json<DropResult>();
    expect(result.dropped).toEqual(expect.arrayContaining(['schema app', 'schema public']));
    expect(result.notDropped).toEqual([]);
    expect(await query(admin.url, `SELECT count(*)::int AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'app')`)).toEqual([{ n: 0 }]);
    expect(await publicSchema(admin.url)).toEqual(publicBefore);
    expect(result.undo).toBe('pnpm db:restore -- --latest --type pre-drop --force --env dev');

    const undo = await cli('pg-restore', ['--latest', '--type', 'pre-drop', '--env', 'dev', '--force', '--no-safety-backup'], { cwd: project });
    expect(undo.code, undo.stderr).toBe(0);
    expect(await fingerprint(admin.url)).toEqual(before);
  });

  it('says plainly what it could not drop', async () => {
    const { admin, url } = await ownedByApp();
    await query(admin.url, 'CREATE SCHEMA superuser_owned; CREATE TABLE superuser_owned.audit (id int)');
    const project = makeProject({ 'packages/database/.env.dev': `DATABASE_URL=${url}\n` });
    const run = await cli('drop-all', ['--env', 'dev', '--force', '--skip-backup'], { cwd: project });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Could not drop \(owned by other roles or needing a superuser\):\n {2}table superuser_owned\.audit \(not yours to drop\)/);
    expect(await query(admin.url, "SELECT count(*)::int AS n FROM pg_tables WHERE schemaname IN ('public', 'app')")).toEqual([{ n: 0 }]);
  });

  it('on a protected environment needs --confirm with --force and refuses --skip-backup; without a terminal it needs --force', async () => {
    const db = await createDatabase({ sql: 'CREATE TABLE t (id int); INSERT INTO t VALUES (1)' });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${db.url}\n`, 'packages/database/.env.dev': `DATABASE_URL=${db.url}\n` });
    const before = await fingerprint(db.url);
    const noConfirm = await cli('drop-all', ['--env', 'prod', '--force'], { cwd: project });
    expect(noConfirm.code).toBe(13);
    expect(noConfirm.stderr).toMatch(new RegExp(`pass --force --confirm ${db.name}\\.`));
    const skip = await cli('drop-all', ['--env', 'prod', '--force', '--confirm', db.name, '--skip-backup'], { cwd: project });
    expect(skip.code).toBe(13);
    expect(skip.stderr).toMatch(/--skip-backup is refused on the protected environment "prod"/);
    const noTerminal = await cli('drop-all', ['--env', 'dev'], { cwd: project });
    expect(noTerminal.code).toBe(13);
    expect(noTerminal.stderr).toMatch(/there is no terminal to confirm it\. Pass --force to drop everything there without a prompt\./);
    expect(await fingerprint(db.url)).toEqual(before);
  });
});
