/**
 * Content that line-by-line reading of pg_dump's SQL gets wrong: a PL/pgSQL function ending in
 * "END;", SQL-standard function bodies, and strings, comments and function bodies holding lines
 * that look like BEGIN/COMMIT/COPY/OWNER/GRANT statements. Every artifact must restore to the
 * same database, with and without the ownership/privilege filtering of cross-environment restores.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject, query, readInfo } from '../support/harness.js';

const marker = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-meta-')), 'ran');

export const TRICKY_SQL = `
CREATE TABLE public.t (id int PRIMARY KEY, note text);
INSERT INTO public.t VALUES (1, E'line\\nBEGIN;\\nCOMMIT;\\n\\\\.\\nCOPY public.t (id) FROM stdin;'), (2, NULL);
CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  RETURN 1;
END;
$$;
CREATE FUNCTION public.g() RETURNS int LANGUAGE sql
BEGIN ATOMIC
  SELECT CASE WHEN true THEN 1 ELSE 2 END;
  SELECT 2;
END;
CREATE FUNCTION public.h() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
  IF false THEN
    EXECUTE $q$
ALTER TABLE public.t OWNER TO nobody;
GRANT ALL ON public.t TO PUBLIC;
COMMIT;
$q$;
  END IF;
END;
$body$;
COMMENT ON TABLE public.t IS 'first
BEGIN;
END;
COPY public.t (id) FROM stdin;
\\.
-- PostgreSQL database dump complete
last';
COMMENT ON FUNCTION public.f() IS $c$ROLLBACK;
\\! touch ${marker}
$c$;
CREATE TABLE public."COPY x FROM stdin;" (id int DEFAULT 1, "END;" text DEFAULT 'BEGIN;');
INSERT INTO public."COPY x FROM stdin;" VALUES (5, 'x');
`;

describe('restoring what pg_dump writes for ordinary functions, strings and comments', () => {
  it('restores every artifact identically, deep verify passes, and .info counts only real rows', async () => {
    const source = await createDatabase({ sql: TRICKY_SQL });
    const project = makeProject({ 'packages/database/.env': `DATABASE_URL=${source.url}\n` });
    const backup = await takeBackup(project, source.url);
    const info = readInfo(project, backup.id);
    expect(Object.fromEntries(Object.entries(info.statistics.tables).map(([t, s]) => [t, s.rows]))).toEqual({ 'public.t': 2, 'public."COPY x FROM stdin;"': 1 });
    const expected = await fingerprint(source.url);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const target = await createDatabase({ sql: 'CREATE TABLE other (x int)' });
      const run = await cli('pg-restore', [fileOf(backup, format), '--force', '--no-safety-backup'], { cwd: project, env: { DATABASE_URL: target.url } });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(await fingerprint(target.url), format).toEqual(expected);
      expect(await query(target.url, 'SELECT public.f() AS f, public.g() AS g')).toEqual([{ f: 1, g: 2 }]);
    }
    expect(existsSync(marker)).toBe(false);
    for (const format of ['sql', 'dump', 'tar']) {
      const deep = await cli('verify', [backup.id, '--deep', '--artifact', format], { cwd: project });
      expect(deep.code, `${format}: ${deep.stdout}${deep.stderr}`).toBe(0);
    }
  });

  it('keeps function bodies and comments whole when owners and privileges are skipped across environments', async () => {
    const source = await createDatabase({ sql: TRICKY_SQL });
    const project = makeProject({ 'packages/database/.env.prod': `DATABASE_URL=${source.url}\n` });
    const backup = await takeBackup(project, source.url, ['--env', 'prod']);
    const expected = await fingerprint(source.url);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      const target = await createDatabase();
      const run = await cli('pg-restore', [fileOf(backup, format), '--from', 'prod', '--env', 'dev', '--url', target.url, '--force', '--no-safety-backup'], { cwd: project });
      expect(run.code, `${format}: ${run.stderr}`).toBe(0);
      expect(run.stderr).toMatch(/owners and privileges skipped/);
      expect(await fingerprint(target.url), format).toEqual(expected);
    }
  });
});

describe('a plain script may only do what pg_dump writes', () => {
  const script = (middle: string) => `--\n-- PostgreSQL database dump\n--\n\nSET standard_conforming_strings = on;\nCREATE TABLE public.t (id int);\n${middle}\n--\n-- PostgreSQL database dump complete\n--\n\n`;

  it.each([
    ['a shell command', `\\! touch ${marker}`],
    ['a change of database', '\\connect postgres'],
    ['its own COMMIT', 'INSERT INTO public.t VALUES (1);\nCOMMIT;'],
  ])('refuses %s before anything changes → 16', async (_name, middle) => {
    const target = await createDatabase({ sql: 'CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)' });
    const before = await fingerprint(target.url);
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'pgkit-script-')), 'made-elsewhere.sql');
    writeFileSync(file, script(middle));
    const project = makeProject();
    const run = await cli('pg-restore', [file, '--force'], { cwd: project, env: { DATABASE_URL: target.url } });
    expect(run.code, run.stderr).toBe(16);
    expect(run.stderr).toMatch(/SCRIPT_REFUSED|meta-command|ends or changes the restore's transaction/);
    expect(run.stderr).toMatch(/Nothing was changed/);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
    expect(existsSync(marker)).toBe(false);
    expect(await fingerprint(target.url)).toEqual(before);
    expect(readFileSync(path.join(project, 'backups/restore.log'), 'utf8')).toContain('"outcome":"failure"');
  });
});
