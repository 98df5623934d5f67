import { describe, expect, it } from 'vitest';
import { SqlLexer } from '../../lib/format/sql-lexer.js';

type Event = [string, string] | [string, string, number, number];

/** Lex `input` cut into the given chunks; what the lexer saw, as a list. */
export function lex(input: string | Buffer, cuts: number[] = []): { events: Event[]; topLevel: boolean } {
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input);
  const events: Event[] = [];
  let data: Buffer[] = [];
  const lexer = new SqlLexer({
    statement: (s) => events.push(['statement', s.text, s.start, s.end], ['command', s.command], ['skeleton', s.skeleton]),
    metaCommand: (m) => events.push(['meta', m.text, m.start, m.end], ['metaInStatement', String(m.inStatement)]),
    comment: (text) => events.push(['comment', text]),
    copyData: (buf, start, end) => void data.push(Buffer.from(buf.subarray(start, end))),
    copyEnd: () => {
      events.push(['copy', Buffer.concat(data).toString()]);
      data = [];
    },
  });
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    lexer.write(bytes.subarray(at, cut));
    at = cut;
  }
  lexer.end();
  if (data.length) events.push(['copy-unterminated', Buffer.concat(data).toString()]);
  return { events, topLevel: lexer.atTopLevel };
}

const statements = (input: string) => lex(input).events.filter((e) => e[0] === 'statement').map((e) => e[1]);

const ADVERSARIAL = [
  '--',
  '-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres',
  '--',
  '',
  'SET standard_conforming_strings = on;',
  "CREATE FUNCTION public.f() RETURNS integer LANGUAGE plpgsql AS $$",
  'BEGIN',
  '  RETURN 1;',
  'END;',
  '$$;',
  'CREATE FUNCTION public.g() RETURNS integer',
  '    LANGUAGE sql',
  '    BEGIN ATOMIC',
  ' SELECT CASE WHEN true THEN 1 ELSE 2 END;',
  ' SELECT 2;',
  'END;',
  "COMMENT ON TABLE public.t IS 'one",
  'BEGIN;',
  "COMMIT;'' it''s",
  '\\.',
  "COPY public.t (id) FROM stdin;';",
  'CREATE TABLE "we;ird" ("COPY x FROM stdin;" text DEFAULT E\'\\\'; END;\', b int /* c /* nested; */ ; */);',
  'CREATE FUNCTION public.h() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN $x$ $body $bod $$ \'; END; $x$; END $body$;',
  'ALTER TABLE public.t OWNER TO app; -- trailing; comment',
  'SET standard_conforming_strings = off;',
  "SELECT 'it\\'s; still a string';",
  'SET standard_conforming_strings = on;',
  'SELECT a$b$c, $1, x FROM y;',
  'COPY public.t (id, note) FROM stdin;',
  '1\tBEGIN;',
  '2\t\\\\.',
  '\\.x',
  '3\tCOMMIT;',
  '\\.',
  '\\restrict abc123',
  'SELECT 1 \\gexec',
  'COPY t2 FROM STDIN;',
  '\\.',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
].join('\n');

describe('the SQL lexer', () => {
  it('finds only top-level statements, as psql does', () => {
    expect(statements(ADVERSARIAL)).toEqual([
      'SET standard_conforming_strings = on;',
      'CREATE FUNCTION public.f() RETURNS integer LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND;\n$$;',
      'CREATE FUNCTION public.g() RETURNS integer\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT CASE WHEN true THEN 1 ELSE 2 END;\n SELECT 2;\nEND;',
      "COMMENT ON TABLE public.t IS 'one\nBEGIN;\nCOMMIT;'' it''s\n\\.\nCOPY public.t (id) FROM stdin;';",
      'CREATE TABLE "we;ird" ("COPY x FROM stdin;" text DEFAULT E\'\\\'; END;\', b int /* c /* nested; */ ; */);',
      "CREATE FUNCTION public.h() RETURNS text LANGUAGE plpgsql AS $body$ BEGIN RETURN $x$ $body $bod $$ '; END; $x$; END $body$;",
      'ALTER TABLE public.t OWNER TO app;',
      'SET standard_conforming_strings = off;',
      "SELECT 'it\\'s; still a string';",
      'SET standard_conforming_strings = on;',
      'SELECT a$b$c, $1, x FROM y;',
      'COPY public.t (id, note) FROM stdin;',
      // "SELECT 1 \gexec" has no semicolon: psql would run it at the meta-command
      'SELECT 1 \\gexec\nCOPY t2 FROM STDIN;',
    ]);
  });

  it('reports commands, skeletons, meta-commands, comments and COPY data', () => {
    const { events, topLevel } = lex(ADVERSARIAL);
    const of = (kind: string) => events.filter((e) => e[0] === kind).map((e) => e[1]);
    expect(of('command')).toEqual(['SET', 'CREATE', 'CREATE', 'COMMENT', 'CREATE', 'CREATE', 'ALTER', 'SET', 'SELECT', 'SET', 'SELECT', 'COPY', 'SELECT']);
    expect(of('skeleton')[3]).toBe("COMMENT ON TABLE public.t IS '';");
    expect(of('skeleton')[4]).toBe('CREATE TABLE "" ("" text DEFAULT E\'\', b int );');
    expect(of('meta')).toEqual(['\\restrict abc123', '\\gexec', '\\.']);
    expect(of('metaInStatement')).toEqual(['false', 'true', 'false']);
    expect(of('comment')).toEqual(['--', '-- Name: f(); Type: FUNCTION; Schema: public; Owner: postgres', '--', '-- trailing; comment', '--', '-- PostgreSQL database dump complete', '--']);
    expect(of('copy')).toEqual(['1\tBEGIN;\n2\t\\\\.\n\\.x\n3\tCOMMIT;\n']);
    expect(topLevel).toBe(true);
  });

  it.each([
    ['an empty COPY block', 'COPY t FROM stdin;\n\\.\nSELECT 1;\n', ['COPY t FROM stdin;', 'SELECT 1;'], ['']],
    ['CRLF end of data', 'COPY t FROM stdin;\r\na\r\n\\.\r\nSELECT 1;\n', ['COPY t FROM stdin;', 'SELECT 1;'], ['a\r\n']],
    ['a backslash-dot that is data', 'COPY t FROM stdin;\n\\.a\n\\\n.\n\\.\n', ['COPY t FROM stdin;'], ['\\.a\n\\\n.\n']],
    ['COPY TO is not data', 'COPY t TO stdout;\nSELECT 1;\n', ['COPY t TO stdout;', 'SELECT 1;'], []],
    ['semicolons in parentheses', 'CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);\n', ['CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2);'], []],
    ['a dollar quote whose tag appears half-written', 'SELECT $a$ $ab$ $a $$ $a$;', ['SELECT $a$ $ab$ $a $$ $a$;'], []],
    ['an operator ending in a comment', 'SELECT 1 +--x;\n2;', ['SELECT 1 +--x;\n2;'], []],
    ['a statement that starts with a minus', '-1;/x/;', ['-1;', '/x/;'], []],
    ['CREATE OR REPLACE PROCEDURE BEGIN ATOMIC', 'CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;', ['CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END;'], []],
    ['a lone semicolon', ';;', [';', ';'], []],
  ])('%s', (_name, input, expected, copies) => {
    const { events } = lex(input);
    expect(events.filter((e) => e[0] === 'statement').map((e) => e[1])).toEqual(expected);
    expect(events.filter((e) => e[0] === 'copy').map((e) => e[1])).toEqual(copies);
  });

  it('knows when the text ends inside something', () => {
    for (const open of ["SELECT 'x", 'SELECT $$x', 'SELECT 1', '/* x', 'SELECT "x', 'COPY t FROM stdin;\n1\n']) {
      expect(lex(open).topLevel, open).toBe(false);
    }
  });

  it('sees the same whatever the chunks: cut at every byte, and byte by byte', () => {
    const input = Buffer.from(`${ADVERSARIAL}COPY t3 FROM stdin;\r\nx\r\n\\.\r\nSELECT $q$ü$q$, E'\\\\';\n`);
    const whole = lex(input);
    for (let cut = 0; cut <= input.length; cut++) expect(lex(input, [cut]), `cut at ${cut}`).toEqual(whole);
    const singles = Array.from({ length: input.length }, (_, i) => i);
    expect(lex(input, singles)).toEqual(whole);
    for (let a = 0; a < input.length; a += 7) {
      expect(lex(input, [a, Math.min(input.length, a + 3)])).toEqual(whole);
    }
  });
});
