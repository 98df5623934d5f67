import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from '../../lib/engines/postgres/cluster.js';
import { fingerprint, takeBackup } from '../support/backups.js';
import { backupDir, cli, cluster, createDatabase, libpqEnv, makeProject, query, readInfo, urlFor } from '../support/harness.js';

/** Roles are cluster-wide: every name carries this run's suffix, so parallel tests never meet. */
const S = randomBytes(3).toString('hex');
const OWNER = `owner_${S}`;
const READER = `reader_${S}`;
const WRITER = `writer_${S}`;
const MIXED = `Mixed Case ${S}`;
const ROLES = [OWNER, READER, WRITER, MIXED];

const SETUP = `
CREATE ROLE ${OWNER} LOGIN PASSWORD 'owner-secret' CONNECTION LIMIT 5;
CREATE ROLE ${READER} NOLOGIN;
CREATE ROLE ${WRITER} NOLOGIN IN ROLE ${READER};
CREATE ROLE "${MIXED}" NOLOGIN;
COMMENT ON ROLE ${READER} IS 'reads; everything';
ALTER ROLE ${WRITER} SET statement_timeout = '5s';
`;

const SCHEMA = `
CREATE SCHEMA app AUTHORIZATION ${OWNER};
CREATE TABLE app.items (id int PRIMARY KEY, name text, secret text);
ALTER TABLE app.items OWNER TO ${OWNER};
INSERT INTO app.items SELECT g, 'item ' || g, 's' || g FROM generate_series(1, 25) g;
GRANT USAGE ON SCHEMA app TO ${READER}, ${WRITER};
GRANT SELECT (id, name) ON app.items TO ${READER};
GRANT INSERT, UPDATE ON app.items TO ${WRITER} WITH GRANT OPTION;
CREATE FUNCTION app.count_items() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM app.items $$;
ALTER FUNCTION app.count_items() OWNER TO ${WRITER};
REVOKE EXECUTE ON FUNCTION app.count_items() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.count_items() TO ${READER};
CREATE VIEW app.names AS SELECT id, name FROM app.items;
ALTER VIEW app.names OWNER TO "${MIXED}";
ALTER TABLE app.items ENABLE ROW LEVEL SECURITY;
CREATE POLICY readers ON app.items FOR SELECT TO ${READER} USING (id > 0);
ALTER DEFAULT PRIVILEGES FOR ROLE ${OWNER} IN SCHEMA app GRANT SELECT ON TABLES TO ${READER};
`;

/** Schema with owners and privileges, as pg_dump writes it (its per-run \\restrict key removed). */
function fullSchema(url: string, binDir: string): string {
  return execFileSync(path.join(binDir, 'pg_dump'), ['--schema-only'], { env: libpqEnv(url) })
    .toString()
    .replace(/^\\(un)?restrict .*$/gm, '');
}

const ROLE_FACTS = `
SELECT r.rolname, r.rolsuper, r.rolinherit, r.rolcreaterole, r.rolcreatedb, r.rolcanlogin, r.rolconnlimit, r.rolconfig,
       a.rolpassword, shobj_description(r.oid, 'pg_authid') AS comment,
       ARRAY(SELECT g.rolname || CASE WHEN m.admin_option THEN '+admin' ELSE '' END FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid ORDER BY 1) AS member_of
FROM pg_roles r JOIN pg_authid a ON a.oid = r.oid WHERE r.rolname = ANY($1) ORDER BY r.rolname`;

describe('roles with every backup', () => {
  let fresh: Cluster;
  beforeAll(async () => {
    fresh = await startCluster();
  });
  afterAll(async () => {
    await fresh?.destroy();
    await query(`postgresql://postgres:${encodeURIComponent(cluster().password)}@${cluster().host}:${cluster().port}/postgres`, `DROP ROLE IF EXISTS ${ROLES.map((r) => `"${r}"`).join(', ')}`).catch(() => undefined);
  });

  it('restores onto a fresh cluster with --with-roles: identical schema, data, owners, grants and roles; existing roles untouched', async () => {
    const source = await createDatabase({ sql: SETUP });
    await query(source.url, SCHEMA);
    const project = makeProject();
    const key = path.join(project, 'key.txt');
    execFileSync('age-keygen', ['-o', key], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', key]).toString().trim();
    const backup = await takeBackup(project, source.url, ['--format', 'dump'], { AGE_RECIPIENTS: recipient });

    const info = readInfo(project, backup.id);
    expect(info.roles).toMatchObject({ file: `${backup.id}.globals.sql`, passwords: true });
    expect(info.roles!.roles).toEqual(expect.arrayContaining(ROLES));
    const globals = info.artifacts.find((a) => a.format === 'globals')!;
    expect(globals.file).toBe(`${backup.id}.globals.sql.age`);
    const script = execFileSync('age', ['-d', '-i', key, path.join(backupDir(project), globals.file)]).toString();
    expect(script).toContain(`CREATE ROLE ${OWNER};`);
    expect(script).not.toMatch(/CREATE ROLE t_|\\restrict/);

    const targetUrl = fresh.url('restored');
    await query(fresh.url('postgres'), 'CREATE DATABASE restored');
    const env = { DATABASE_URL: targetUrl, AGE_IDENTITY_FILE: key };
    const refused = await cli('pg-restore', [backup.id, '--force'], { cwd: project, env });
    expect(refused.code).toBe(16);
    expect(refused.stderr).toMatch(new RegExp(`do not exist on .*${OWNER}.*--with-roles`));

    const run = await cli('pg-restore', [backup.id, '--force', '--with-roles'], { cwd: project, env });
    expect(run.code, run.stderr).toBe(0);
    expect(fullSchema(targetUrl, fresh.binDir)).toBe(fullSchema(source.url, cluster().binDir));
    expect(await fingerprint(targetUrl)).toEqual(await fingerprint(source.url));
    expect(await query(targetUrl, ROLE_FACTS, [ROLES])).toEqual(await query(source.url, ROLE_FACTS, [ROLES]));

    // An existing role is left as it is, unless --update-roles.
    await query(fresh.url('postgres'), `ALTER ROLE ${OWNER} CONNECTION LIMIT 1`);
    await query(fresh.url('postgres'), 'CREATE DATABASE again');
    const again = await cli('pg-restore', [backup.id, '--force', '--with-roles'], { cwd: project, env: { ...env, DATABASE_URL: fresh.url('again') } });
    expect(again.code, again.stderr).toBe(0);
    expect(await query(fresh.url('postgres'), `SELECT rolconnlimit FROM pg_roles WHERE rolname = '${OWNER}'`)).toEqual([{ rolconnlimit: 1 }]);
    const updated = await cli('pg-restore', ['--latest', '--force', '--with-roles', '--update-roles'], { cwd: project, env: { ...env, DATABASE_URL: fresh.url('again') } });
    expect(updated.code, updated.stderr).toBe(0);
    expect(await query(fresh.url('postgres'), `SELECT rolconnlimit FROM pg_roles WHERE rolname = '${OWNER}'`)).toEqual([{ rolconnlimit: 5 }]);
  });

  it('a backup taken by a user who may not read passwords saves the roles without them', async () => {
    const source = await createDatabase({ sql: SETUP.replaceAll(S, `${S}np`) });
    const owner = `owner_${S}np`;
    await query(source.url, `ALTER DATABASE ${source.name} OWNER TO ${owner}; ALTER SCHEMA public OWNER TO ${owner}; CREATE TABLE t (id int); ALTER TABLE t OWNER TO ${owner}`);
    const project = makeProject();
    const c = cluster();
    const url = `postgresql://${owner}:owner-secret@${c.host}:${c.port}/${source.name}`;
    const backup = await takeBackup(project, url, ['--format', 'dump']);
    const info = readInfo(project, backup.id);
    expect(info.roles).toMatchObject({ passwords: false });
    expect(info.roles!.roles).toContain(owner);
    const script = readFileSync(path.join(backupDir(project), info.roles!.file), 'utf8');
    expect(script).toContain(`CREATE ROLE ${owner};`);
    expect(script).not.toMatch(/PASSWORD|SCRAM/);
    await query(urlFor('postgres'), `DROP DATABASE ${source.name} WITH (FORCE)`);
    await query(urlFor('postgres'), `DROP ROLE ${['owner', 'reader', 'writer'].map((r) => `${r}_${S}np`).join(', ')}, "Mixed Case ${S}np"`);
  });
});
