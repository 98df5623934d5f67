import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { RestoreScript } from '../../lib/engines/postgres/script.js';
import { compareRows } from '../../lib/engines/postgres/apply.js';

async function run(input: string, chunkSize: number, options: Partial<ConstructorParameters<typeof RestoreScript>[0]> = {}) {
  const bytes = Buffer.from(input);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const script = new RestoreScript({ prelude: '-- prelude', dropOwnership: false, dropPrivileges: false, ...options });
  const out: Buffer[] = [];
  script.on('data', (c: Buffer) => out.push(c));
  await new Promise<void>((resolve, reject) => {
    Readable.from(chunks).pipe(script).on('finish', resolve).on('error', reject);
    script.on('error', reject);
  });
  return { text: Buffer.concat(out).toString(), script };
}

const DUMP = [
  '--',
  '-- Name: users; Type: TABLE; Schema: public; Owner: app',
  '--',
  'CREATE TABLE public.users (id int, note text);',
  'ALTER TABLE public.users OWNER TO app;',
  '--',
  '-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: app',
  '--',
  'COPY public.users (id, note) FROM stdin;',
  '1\tCOMMIT;',
  'COMMIT;',
  '\\\\.',
  '\\.x',
  '\\.',
  '--',
  '-- Data for Name: BLOBS; Type: BLOBS; Schema: -; Owner: -',
  '--',
  'BEGIN;',
  "SELECT pg_catalog.lo_open('16400', 131072);",
  'COMMIT;',
  'GRANT SELECT ON TABLE public.users TO reader;',
  '--',
  '-- PostgreSQL database dump complete',
  '--',
  '',
].join('\n');

describe('the restore script stream', () => {
  it('opens the kit\'s transaction, drops only the large-object BEGIN/COMMIT, and keeps COPY data intact, however it is chunked', async () => {
    const expected = (await run(DUMP, 1 << 16)).text;
    expect(expected.startsWith('BEGIN;\n-- prelude\n')).toBe(true);
    expect(expected).toContain('1\tCOMMIT;\nCOMMIT;\n\\\\.\n\\.x\n\\.\n'); // data rows are data
    expect(expected).not.toMatch(/^BEGIN;$[\s\S]*^BEGIN;$/m);
    expect(expected).not.toContain("lo_open('16400', 131072);\nCOMMIT;");
    expect(expected).not.toMatch(/COMMIT;\s*$/);
    for (const size of [1, 2, 5, 13, 64]) expect((await run(DUMP, size)).text, `chunks of ${size}`).toBe(expected);
  });

  it('counts sections, lists the tables COPY loads in order, and notices the completion trailer', async () => {
    const { script } = await run(DUMP, 7);
    expect(script.items).toBe(3);
    expect(script.copies).toEqual(['public.users']);
    expect(script.complete).toBe(true);
    expect((await run(DUMP.slice(0, DUMP.indexOf('-- PostgreSQL database dump complete')), 7)).script.complete).toBe(false);
  });

  it('drops ownership and privileges when asked (restores across environments)', async () => {
    const { text } = await run(DUMP, 11, { dropOwnership: true, dropPrivileges: true });
    expect(text).not.toContain('OWNER TO app');
    expect(text).not.toContain('GRANT SELECT');
    expect(text).toContain('CREATE TABLE public.users');
  });

  it('refuses a script that commits, or rolls back, without a BEGIN of its own', async () => {
    for (const ending of ['COMMIT;', 'END;', 'ROLLBACK;', 'abort work;', 'COMMIT AND CHAIN;', "PREPARE TRANSACTION 'x';"]) {
      await expect(run(`CREATE TABLE t (id int);\n${ending}\nDROP TABLE t;\n`, 4), ending).rejects.toMatchObject({ code: 'SCRIPT_REFUSED' });
    }
    expect((await run('BEGIN;\nSAVEPOINT a;\nROLLBACK TO SAVEPOINT a;\nEND;\n', 3)).text).toBe('BEGIN;\n-- prelude\n\nSAVEPOINT a;\nROLLBACK TO SAVEPOINT a;\n\n');
  });

  it.each([
    ['a shell command', '\\! touch /tmp/x'],
    ['another database', '\\connect postgres'],
    ['a file', '\\i /etc/passwd'],
    ['output to a file', '\\o /tmp/out'],
    ['a meta-command after a statement', 'SELECT 1 \\g /tmp/out'],
    ['a forced semicolon', 'SELECT 1\\; COMMIT;'],
  ])('refuses %s, before psql receives any of it', async (_name, line) => {
    const input = `CREATE TABLE t (id int);\n${line}\nSELECT 2;\n`;
    const out: string[] = [];
    const script = new RestoreScript({ prelude: '', dropOwnership: false, dropPrivileges: false });
    script.on('data', (c: Buffer) => out.push(c.toString()));
    const error = await new Promise((resolve) => {
      script.on('error', resolve);
      for (let i = 0; i < input.length; i++) script.write(Buffer.from(input[i]!));
      script.end();
      script.on('finish', () => resolve(undefined));
    });
    expect(error).toMatchObject({ code: 'SCRIPT_REFUSED' });
    expect(out.join('')).not.toContain('\\');
  });

  it('passes pg_dump\'s own \\restrict and \\unrestrict', async () => {
    const { text } = await run('\\restrict Ab12\nSELECT 1;\n\\unrestrict Ab12\n', 5);
    expect(text).toContain('\\restrict Ab12\nSELECT 1;\n\\unrestrict Ab12\n');
  });

  const TRICKY = [
    'SET standard_conforming_strings = on;',
    'CREATE FUNCTION public.f() RETURNS int LANGUAGE plpgsql AS $$',
    'BEGIN',
    '  RETURN 1;',
    'END;',
    '$$;',
    'ALTER FUNCTION public.f() OWNER TO app;',
    'CREATE FUNCTION public.g() RETURNS int LANGUAGE plpgsql AS $body$',
    'BEGIN',
    '  EXECUTE $q$',
    'ALTER TABLE x OWNER TO y;',
    'GRANT ALL ON x TO y;',
    'COMMIT;',
    '$q$;',
    '  RETURN 2;',
    'END;',
    '$body$;',
    'CREATE FUNCTION public.h() RETURNS int LANGUAGE sql',
    '    BEGIN ATOMIC',
    ' SELECT 1;',
    'END;',
    "COMMENT ON TABLE public.t IS 'first",
    'BEGIN;',
    'COMMIT;',
    'END;',
    'ALTER TABLE public.t OWNER TO someone;',
    "GRANT ALL ON TABLE public.t TO PUBLIC;';",
    'COPY public.t (id, note) FROM stdin;',
    '1\tBEGIN;',
    '2\tALTER TABLE x OWNER TO y;',
    '\\.',
    'GRANT SELECT ON TABLE public.t TO reader;',
    'ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO reader;',
    '--',
    '-- PostgreSQL database dump complete',
    '--',
    '',
  ].join('\n');

  it('leaves function bodies, strings and COPY data alone, and edits only top-level statements', async () => {
    const kept = (await run(TRICKY, 1 << 16)).text;
    expect(kept).toBe(`BEGIN;\n-- prelude\n${TRICKY}`);
    const filtered = (await run(TRICKY, 1 << 16, { dropOwnership: true, dropPrivileges: true })).text;
    const dropped = ['ALTER FUNCTION public.f() OWNER TO app;', 'GRANT SELECT ON TABLE public.t TO reader;', 'ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO reader;'];
    expect(filtered).toBe(`BEGIN;\n-- prelude\n${dropped.reduce((text, statement) => text.replace(statement, ''), TRICKY)}`);
    for (let size = 1; size <= 41; size += 4) {
      expect((await run(TRICKY, size, { dropOwnership: true, dropPrivileges: true })).text, `chunks of ${size}`).toBe(filtered);
    }
  });

  it('never passes on an unfinished COMMIT (psql would run it at end of input)', async () => {
    const { text, script } = await run('SELECT 1;\nCOMMIT', 3);
    expect(text).toBe('BEGIN;\n-- prelude\nSELECT 1;\n');
    expect(script.complete).toBe(false);
  });
});

describe('rows loaded against the backup\'s counts', () => {
  it.each([
    [['a', 'b'], [2, 0], { a: 2, b: 0 }, undefined],
    [['a', 'b'], [2, 1], { a: 2, b: 0 }, /table b has 1 rows, the backup recorded 0/],
    [['a'], [2], { a: 2, b: 5 }, /table b has 0 rows, the backup recorded 5/],
    [['a', 'b'], [2], { a: 2 }, /reported 1 COPY results for 2 tables/],
  ])('%j loaded %j, expected %j', (tables, copied, expected, error) => {
    const check = () => compareRows(tables, copied, expected);
    if (error) expect(check).toThrow(error);
    else expect(check).not.toThrow();
  });
});

describe('a restore script at PostgreSQL\'s limits', () => {
  const wide = Array.from({ length: 1600 }, (_, i) => `"${`column_${i}_`.padEnd(63, 'x')}"`);
  const WIDE = [
    `CREATE TABLE public.wide (${wide.map((c) => `${c} int`).join(', ')});`,
    'ALTER TABLE public.wide OWNER TO app;',
    `COPY public.wide (${wide.join(', ')}) FROM stdin;`,
    wide.map(() => '\\N').join('\t'),
    wide.map((_, i) => String(i)).join('\t'),
    '\\.',
    `COMMENT ON TABLE public.wide IS '${'a long comment; '.repeat(400_000)}';`,
    '--',
    '-- PostgreSQL database dump complete',
    '--',
    '',
  ].join('\n');

  it('passes a 100 KB COPY column list, its rows and a 6 MB comment through unchanged, and counts the COPY', async () => {
    for (const size of [4096, 65_536, 1 << 20]) {
      const { text, script } = await run(WIDE, size);
      expect(text, `chunks of ${size}`).toBe(`BEGIN;\n-- prelude\n${WIDE}`);
      expect(script.copies).toEqual(['public.wide']);
      expect(script.complete).toBe(true);
    }
  });

  it('refuses a meta-command line too long to hold, which could hide a second command after a \\restrict key', async () => {
    await expect(run(`\\restrict ${'A'.repeat(8000)} \\! touch pwned\nSELECT 1;\n`, 1024)).rejects.toThrow(/too long for pg_dump to have written it/);
  });
});
