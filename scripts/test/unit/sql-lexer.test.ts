import { describe, expect, it } from 'vitest';
import { isPgDumpMetaCommand, SqlLexer, WHOLE_TEXT, type MetaCommand, type SqlStatement } from '../../lib/format/sql-lexer.js';

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

describe('statements of any length are read the same way', () => {
  const columns = (n: number, width: number) => Array.from({ length: n }, (_, i) => `c${String(i + 1).padStart(width - 1, '0')}`);
  const copyOf = (cols: string[], rows: number) =>
    `COPY public.wide (${cols.join(', ')}) FROM stdin;\n${Array.from({ length: rows }, () => cols.map(() => '\\N').join('\t')).join('\n')}\n\\.\nSELECT 1;\n`;

  it.each([
    ['300 columns of 16 bytes', 300, 16],
    ['1,600 columns (the most a table has)', 1600, 10],
    ['1,600 columns of 63 bytes: a 100 KB column list', 1600, 63],
  ])('%s: a COPY … FROM stdin is a COPY, its rows data, whatever the chunks', (_, n, width) => {
    const input = copyOf(columns(n, width), 3);
    const whole = lex(input).events;
    const statement = whole.find((e) => e[0] === 'statement')!;
    expect(whole.find((e) => e[0] === 'command')).toEqual(['command', 'COPY']);
    expect(whole.filter((e) => e[0] === 'copy')).toEqual([['copy', `${Array.from({ length: 3 }, () => columns(n, width).map(() => '\\N').join('\t')).join('\n')}\n`]]);
    expect(whole.some((e) => e[0] === 'meta')).toBe(false);
    expect(statements(input).at(-1)).toBe('SELECT 1;');
    expect(String(whole.find((e) => e[0] === 'skeleton')![1])).toMatch(/^COPY public\.wide \(c.*…\) FROM stdin;$/);
    expect(statement[1].length).toBeLessThanOrEqual(64 * 1024);
    for (const size of [7, 4093, 65_536]) {
      const cuts: number[] = [];
      for (let at = size; at < input.length; at += size) cuts.push(at);
      expect(lex(input, cuts).events, `chunks of ${size}`).toEqual(whole);
    }
  });

  it('keeps the words after a long parenthesised list, and says what it left out', () => {
    const seen: SqlStatement[] = [];
    const lexer = new SqlLexer({ statement: (s) => void seen.push(s) });
    const long = Array.from({ length: 5000 }, (_, i) => `x${i}`).join(', ');
    lexer.write(Buffer.from(`ALTER TABLE public.t ADD CONSTRAINT c CHECK (a IN (${long})); ALTER TABLE public.t (${long}) OWNER TO app; SELECT ${long} FROM t;`));
    lexer.end();
    expect(seen.map((s) => s.skeletonElided)).toEqual([true, true, true]);
    expect(seen[0]!.skeleton).toMatch(/^ALTER TABLE public\.t ADD CONSTRAINT c CHECK \(a IN \(x0, .*…\);$/);
    expect(seen[1]!.skeleton).toMatch(/…\) OWNER TO app;$/);
    // a run outside parentheses longer than the limit keeps its end, from a word's start
    expect(seen[2]!.skeleton).toMatch(/^SELECT x0, x1, .*,… x\d+, .*x4999 FROM t;$/);
    expect(seen[2]!.skeleton.length).toBeLessThan(3 * 4096);
  });

  it('holds the whole statement when the caller has the whole text', () => {
    const seen: SqlStatement[] = [];
    const body = 'x'.repeat(5 << 20);
    const lexer = new SqlLexer({ statement: (s) => void seen.push(s) }, WHOLE_TEXT);
    lexer.write(Buffer.from(`COMMENT ON ROLE r IS '${body}'; SELECT ${Array.from({ length: 3000 }, (_, i) => `a${i}`).join(', ')};`));
    lexer.end();
    expect(seen[0]!.text).toBe(`COMMENT ON ROLE r IS '${body}';`);
    expect(seen.map((s) => [s.textComplete, s.skeletonElided])).toEqual([[true, false], [true, false]]);
    expect(seen[1]!.skeleton).toContain('a1500, a1501');
  });

  it('flags a meta-command line cut short, so a second command after a key cannot hide in it', () => {
    const metas: MetaCommand[] = [];
    const lexer = new SqlLexer({ metaCommand: (m) => void metas.push(m) });
    lexer.write(Buffer.from(`\\restrict ${'A'.repeat(5000)} \\! touch pwned\n\\restrict Ab12\n`));
    lexer.end();
    expect(metas.map((m) => m.textComplete)).toEqual([false, true]);
    expect(metas.map((m) => isPgDumpMetaCommand(m))).toEqual([false, true]);
  });
});
