/**
 * A property test: seeded random databases whose identifiers, comments, defaults, function
 * bodies and data hold adversarial lines (BEGIN; END; COMMIT; ROLLBACK; \. ; COPY … FROM stdin;
 * OWNER TO; GRANT; unbalanced quotes inside dollar quotes, nested comments, $tag$ inside
 * $other$, meta-command look-alikes) restore identically from every format, with and without the
 * ownership/privilege filtering of restores across environments. Seeded: a failure names its seed.
 */
import { describe, expect, it } from 'vitest';
import { fileOf, fingerprint, takeBackup } from '../support/backups.js';
import { cli, createDatabase, makeProject } from '../support/harness.js';

const PIECES = [
  'BEGIN;', 'END;', 'COMMIT;', 'ROLLBACK;', 'ABORT;', 'START TRANSACTION;', '\\.', '\\\\.', 'COPY public.t (id) FROM stdin;', 'COPY x FROM STDIN;',
  'ALTER TABLE public.t OWNER TO nobody;', 'GRANT ALL ON public.t TO PUBLIC;', 'REVOKE ALL ON SCHEMA public FROM PUBLIC;',
  "it's", "''", "'", '"', '""', '$$', '$a$', '$b$ $a$', '$tag$ inside $other$', '/* open', '*/', '/* /* nested */ */', '-- a comment', ';', ';;',
  '\\restrict abc', '\\unrestrict abc', '\\! touch /tmp/never', '\\connect postgres', '\\', 'E\'\\\'\'', '\t', 'ü ✓', '(', ')', 'BEGIN ATOMIC', 'CASE', '-- PostgreSQL database dump complete',
];

/** mulberry32: small, seeded, repeatable. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function text(next: () => number, lines: number): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const parts = Array.from({ length: 1 + Math.floor(next() * 3) }, () => PIECES[Math.floor(next() * PIECES.length)]!);
    out.push(parts.join(next() < 0.5 ? ' ' : ''));
  }
  return out.join('\n');
}

const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
/** A dollar quote whose tag does not occur in the body. */
function dollar(body: string, next: () => number): string {
  let tag = '';
  do tag = `q${Math.floor(next() * 1e9).toString(36)}`;
  while (body.includes(`$${tag}$`));
  return `$${tag}$${body}$${tag}$`;
}

/** A small database full of adversarial text, as SQL. */
export function adversarialDatabase(seed: number): string {
  const next = random(seed);
  const sql: string[] = ['SET standard_conforming_strings = on;', 'CREATE SCHEMA prop;'];
  for (let t = 0; t < 3; t++) {
    const table = `prop.${ident(`t${t} ${text(next, 1).slice(0, 40)}`)}`;
    const column = ident(`c ${text(next, 1).slice(0, 30)}`);
    sql.push(`CREATE TABLE ${table} (id int PRIMARY KEY, ${column} text DEFAULT ${literal(text(next, 2))}, note text);`);
    sql.push(`COMMENT ON TABLE ${table} IS ${literal(text(next, 4))};`);
    sql.push(`COMMENT ON COLUMN ${table}.${column} IS ${dollar(text(next, 3), next)};`);
    for (let r = 0; r < 5; r++) sql.push(`INSERT INTO ${table} VALUES (${r}, ${literal(text(next, 3))}, ${next() < 0.2 ? 'NULL' : literal(text(next, 2))});`);
    const body = `\nDECLARE\n  s text := ${literal(text(next, 3))};\nBEGIN\n  /* ${text(next, 2).replace(/\*\//g, '* /').replace(/\/\*/g, '/ *')} */\n  -- ${text(next, 1).replace(/\n/g, ' ')}\n  RETURN s || ${dollar(text(next, 3), next)};\nEND;\n`;
    sql.push(`CREATE FUNCTION prop.f${t}() RETURNS text LANGUAGE plpgsql AS ${dollar(body, next)};`);
    sql.push(`COMMENT ON FUNCTION prop.f${t}() IS ${literal(text(next, 2))};`);
    sql.push(`CREATE FUNCTION prop.g${t}() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT ${literal(text(next, 2))} AS v; END;`); // named: an unnamed one reads back as "AS text"
    sql.push(`CREATE VIEW prop.v${t} AS SELECT id, ${literal(text(next, 1))} AS ${ident(text(next, 1).slice(0, 20))} FROM ${table};`);
  }
  return sql.join('\n');
}

describe('random adversarial content restores identically from every format', () => {
  it.each([[20261130], [7]])('seed %i', async (seed) => {
    const source = await createDatabase({ sql: adversarialDatabase(seed) });
    const project = makeProject({ 'packages/database/.env.origin': `DATABASE_URL=${source.url}\n` });
    const backup = await takeBackup(project, source.url, ['--env', 'origin']);
    const expected = await fingerprint(source.url);
    for (const format of ['sql', 'sql.gz', 'dump', 'tar']) {
      for (const across of [false, true]) {
        const target = await createDatabase();
        const args = across ? ['--from', 'origin', '--env', 'copy', '--url', target.url] : ['--env', 'origin', '--url', target.url];
        const run = await cli('pg-restore', [fileOf(backup, format), ...args, '--force', '--no-safety-backup'], { cwd: project });
        expect(run.code, `seed ${seed}, ${format}${across ? ', across environments' : ''}: ${run.stderr}`).toBe(0);
        expect(await fingerprint(target.url), `seed ${seed}, ${format}${across ? ', across environments' : ''}`).toEqual(expected);
      }
    }
  });
});
