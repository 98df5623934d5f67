import { describe, expect, it } from 'vitest';
import { classifyRoleStatement, filterRoleScript, parseRoleScript, splitStatements } from '../../lib/format/role-script.js';
import { planRoles } from '../../lib/restore/roles.js';

/** What pg_dumpall --roles-only writes (PostgreSQL 15.14+: with \restrict), plus awkward names and comments. */
const SCRIPT = `--
-- PostgreSQL database cluster dump
--

\\restrict AbC123

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

CREATE ROLE "App Owner";
ALTER ROLE "App Owner" WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:a;b$c';
CREATE ROLE base;
ALTER ROLE base WITH NOLOGIN;
COMMENT ON ROLE base IS 'it''s a; role
CREATE ROLE fake;
with newline;';
CREATE ROLE "we""ird;name";
ALTER ROLE "we""ird;name" SET search_path TO 'a, b';
CREATE ROLE postgres;
ALTER ROLE postgres WITH SUPERUSER;
/* a block /* nested */ comment; */
GRANT base TO "App Owner" GRANTED BY postgres;
GRANT "we""ird;name" TO "App Owner" WITH ADMIN OPTION GRANTED BY postgres;
GRANT base TO postgres;

\\unrestrict AbC123
`;

describe('roles script', () => {
  it('splits statements as psql does: quotes, comments and meta-commands', () => {
    const pieces = splitStatements(SCRIPT);
    expect(pieces.filter((p) => p.meta).map((p) => p.text)).toEqual(['\\restrict AbC123', '\\unrestrict AbC123']);
    const statements = pieces.filter((p) => !p.meta).map((p) => p.text);
    expect(statements).toHaveLength(15);
    expect(statements).toContain("COMMENT ON ROLE base IS 'it''s a; role\nCREATE ROLE fake;\nwith newline;';");
    expect(statements.some((s) => s === 'CREATE ROLE fake;')).toBe(false);
  });

  it.each([
    ['CREATE ROLE "App Owner";', { kind: 'role', action: 'create', role: 'App Owner' }],
    ['ALTER ROLE "we""ird;name" SET search_path TO \'a, b\';', { kind: 'role', action: 'alter', role: 'we"ird;name' }],
    ['COMMENT ON ROLE base IS \'x\';', { kind: 'role', action: 'comment', role: 'base' }],
    ["SECURITY LABEL FOR selinux ON ROLE base IS 'x';", { kind: 'role', action: 'label', role: 'base' }],
    ['GRANT base TO "App Owner" GRANTED BY postgres;', { kind: 'membership', role: 'base', member: 'App Owner', grantor: 'postgres', withoutGrantor: 'GRANT base TO "App Owner";' }],
    ['GRANT base TO bob WITH INHERIT TRUE, SET TRUE;', { kind: 'membership', role: 'base', member: 'bob', grantor: undefined }],
    ['SET client_encoding = \'UTF8\';', { kind: 'session' }],
    ['DROP ROLE base;', { kind: 'other' }],
  ])('classifies %s', (statement, expected) => {
    expect(classifyRoleStatement(statement)).toMatchObject(expected);
  });

  it('keeps only the roles asked for, and memberships between two of them', () => {
    const kept = filterRoleScript(parseRoleScript(SCRIPT), new Set(['base', 'App Owner']));
    expect(kept.map((s) => s.text)).toEqual([
      'SET default_transaction_read_only = off;',
      "SET client_encoding = 'UTF8';",
      'SET standard_conforming_strings = on;',
      'CREATE ROLE "App Owner";',
      "ALTER ROLE \"App Owner\" WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:a;b$c';",
      'CREATE ROLE base;',
      'ALTER ROLE base WITH NOLOGIN;',
      "COMMENT ON ROLE base IS 'it''s a; role\nCREATE ROLE fake;\nwith newline;';",
      'GRANT base TO "App Owner" GRANTED BY postgres;',
    ]);
  });
});

describe('planRoles', () => {
  it('creates only missing roles and never touches an existing one', () => {
    const plan = planRoles(SCRIPT, new Set(['postgres', 'base']), false);
    expect(plan.create).toEqual(['App Owner', 'we"ird;name']);
    expect(plan.existing).toEqual(['base', 'postgres']);
    const body = plan.statements.filter((s) => !s.startsWith('SET '));
    expect(body).toEqual([
      'CREATE ROLE "App Owner";',
      "ALTER ROLE \"App Owner\" WITH NOSUPERUSER INHERIT LOGIN PASSWORD 'SCRAM-SHA-256$4096:a;b$c';",
      'CREATE ROLE "we""ird;name";',
      'ALTER ROLE "we""ird;name" SET search_path TO \'a, b\';',
      'GRANT base TO "App Owner" GRANTED BY postgres;',
      'GRANT "we""ird;name" TO "App Owner" WITH ADMIN OPTION GRANTED BY postgres;',
    ]);
    expect(body.join('\n')).not.toMatch(/ALTER ROLE (base|postgres)|COMMENT ON ROLE base|TO postgres/);
  });

  it('updates existing roles only with --update-roles, never the role the restore runs as', () => {
    const plan = planRoles(SCRIPT, new Set(['postgres', 'base', 'App Owner', 'we"ird;name']), true);
    expect(plan.create).toEqual([]);
    expect(plan.statements.some((s) => s.startsWith('CREATE ROLE'))).toBe(false);
    expect(plan.statements).toContain('ALTER ROLE postgres WITH SUPERUSER;');
    expect(plan.statements).toContain('GRANT base TO postgres;');
    const asPostgres = planRoles(SCRIPT, new Set(['postgres', 'base', 'App Owner', 'we"ird;name']), true, 'postgres');
    expect(asPostgres.statements.join('\n')).not.toMatch(/ALTER ROLE postgres|TO postgres/);
    expect(asPostgres.statements).toContain('ALTER ROLE base WITH NOLOGIN;');
  });

  it('drops a GRANTED BY that names a role the target will not have', () => {
    const plan = planRoles(SCRIPT, new Set(['admin']), false);
    expect(plan.create).toContain('postgres');
    const stripped = planRoles(SCRIPT.replace(/CREATE ROLE postgres;\nALTER ROLE postgres WITH SUPERUSER;\n/, ''), new Set(['admin']), false);
    expect(stripped.statements).toContain('GRANT base TO "App Owner";');
  });

  it('refuses a script with statements the kit never writes', () => {
    expect(() => planRoles(`${SCRIPT}\nDROP DATABASE app;`, new Set(), false)).toThrow(/globals\.sql holds a statement the kit does not write/);
  });
});

describe('a roles script at PostgreSQL\'s limits', () => {
  it('reads a role comment of several MB whole', () => {
    const comment = 'x'.repeat(3 << 20);
    const pieces = splitStatements(`CREATE ROLE big;\nCOMMENT ON ROLE big IS '${comment}';\n`);
    expect(pieces.map((p) => p.text.length)).toEqual(['CREATE ROLE big;'.length, `COMMENT ON ROLE big IS '${comment}';`.length]);
  });
});
