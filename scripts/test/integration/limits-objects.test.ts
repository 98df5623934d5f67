/**
 * Objects at PostgreSQL's limits, backed up in every format, restored by the kit and
 * deep-verified: 63-byte names everywhere, statements of several MB, deep partition trees and
 * rows of several MB (issue 19). Each case has its own database, so a failure names its cause.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createDatabase, query } from '../support/harness.js';
import { dropDatabase, dropRoles, ident, name63, roundTrip } from '../support/limits.js';

const MB = 1024 * 1024;

/** A SQL string literal. */
function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** Every kind of name the issue lists, each exactly 63 bytes, some of them multi-byte or needing quotes. */
function longNames(run: string) {
  return {
    owner: name63(`limits_owner_${run}_`, 'o'),
    grantee: name63(`limits_grantee_${run}_`, 'g'),
    schema: name63('Schéma ', 'é'),
    parent: name63('parent_', 'p'),
    table: name63('Table ', 'T'),
    id: name63('id_', 'i'),
    ref: name63('Ref ', 'r'),
    amount: name63('Amount ', 'ä'),
    pk: name63('pk_', 'k'),
    parentPk: name63('parent_pk_', 'k'),
    fk: name63('fk_', 'f'),
    check: name63('ck_', 'c'),
    unique: name63('uq_', 'u'),
    index: name63('ix_', 'x'),
    sequence: name63('seq_', 's'),
    fn: name63('fn_', 'n'),
    trigger: name63('tg_', 't'),
    view: name63('vw_', 'v'),
  };
}

function longNamesSql(n: ReturnType<typeof longNames>): string {
  const q = Object.fromEntries(Object.entries(n).map(([k, v]) => [k, ident(v)])) as Record<keyof typeof n, string>;
  const s = q.schema;
  return `
    CREATE ROLE ${q.owner}; CREATE ROLE ${q.grantee};
    CREATE SCHEMA ${s} AUTHORIZATION ${q.owner};
    CREATE SEQUENCE ${s}.${q.sequence} START 1000;
    CREATE TABLE ${s}.${q.parent} (${q.id} int CONSTRAINT ${q.parentPk} PRIMARY KEY);
    CREATE TABLE ${s}.${q.table} (
      ${q.id} bigint DEFAULT nextval(${literal(`${s}.${q.sequence}`)}) CONSTRAINT ${q.pk} PRIMARY KEY,
      ${q.ref} int CONSTRAINT ${q.fk} REFERENCES ${s}.${q.parent},
      ${q.amount} numeric CONSTRAINT ${q.check} CHECK (${q.amount} >= 0),
      CONSTRAINT ${q.unique} UNIQUE (${q.ref}, ${q.amount}));
    ALTER SEQUENCE ${s}.${q.sequence} OWNED BY ${s}.${q.table}.${q.id};
    CREATE INDEX ${q.index} ON ${s}.${q.table} (${q.amount} DESC, ${q.ref});
    CREATE FUNCTION ${s}.${q.fn}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.${q.amount} := coalesce(NEW.${q.amount}, 0); RETURN NEW; END $$;
    CREATE TRIGGER ${q.trigger} BEFORE INSERT ON ${s}.${q.table} FOR EACH ROW EXECUTE FUNCTION ${s}.${q.fn}();
    CREATE VIEW ${s}.${q.view} AS SELECT ${q.id}, ${q.amount} FROM ${s}.${q.table} WHERE ${q.amount} > 0;
    INSERT INTO ${s}.${q.parent} SELECT g FROM generate_series(1, 10) g;
    INSERT INTO ${s}.${q.table} (${q.ref}, ${q.amount}) SELECT g % 10 + 1, CASE WHEN g <= 10 THEN NULL ELSE g * 1.5 END FROM generate_series(1, 200) g;
    ALTER TABLE ${s}.${q.parent} OWNER TO ${q.owner};
    ALTER TABLE ${s}.${q.table} OWNER TO ${q.owner};
    ALTER VIEW ${s}.${q.view} OWNER TO ${q.owner};
    ALTER FUNCTION ${s}.${q.fn}() OWNER TO ${q.owner};
    GRANT USAGE ON SCHEMA ${s} TO ${q.grantee};
    GRANT SELECT ON ${s}.${q.table}, ${s}.${q.view} TO ${q.grantee};
    GRANT UPDATE (${q.amount}) ON ${s}.${q.table} TO ${q.grantee};
    GRANT USAGE ON SEQUENCE ${s}.${q.sequence} TO ${q.grantee};
    GRANT EXECUTE ON FUNCTION ${s}.${q.fn}() TO ${q.grantee};
    COMMENT ON CONSTRAINT ${q.check} ON ${s}.${q.table} IS 'amounts are never negative';`;
}

/**
 * About 3 MB of PL/pgSQL: one statement a line, each with a string holding what a reader of SQL
 * could mistake for an end (semicolons, a doubled quote, comment starts, a dollar quote).
 */
function bigPlpgsqlFunction(): string {
  const lines: string[] = [];
  for (let i = 0; Buffer.byteLength(lines.join('\n')) < 3.2 * MB; i += 1000) {
    for (let j = i; j < i + 1000; j++) lines.push(`  total := total + length('line ${j}; it''s -- not a comment /* nor this */ $x$;');`);
  }
  return `CREATE FUNCTION public.big_body() RETURNS bigint LANGUAGE plpgsql AS $body$
DECLARE total bigint := 0;
BEGIN
${lines.join('\n')}
  RETURN total;
END $body$;`;
}

/**
 * A SQL-standard body of several MB: pg_dump prints it as bare SQL, not inside a string. Few
 * statements with long strings: the server stores the body parsed, and many statements cost time.
 */
function bigAtomicFunction(): string {
  const filler = 'x;'.repeat(5000);
  const statements = Array.from({ length: 330 }, (_, i) => `  SELECT length('${i} ${filler} it''s');`);
  return `CREATE FUNCTION public.big_atomic() RETURNS int LANGUAGE sql BEGIN ATOMIC\n${statements.join('\n')}\nEND;`;
}

/** About 3 MB of comment: quotes, backslashes, tabs, and lines that look like COPY's end marker or a meta-command. */
function bigComment(): string {
  const piece = `it's a "comment"; with \\N and \\. lines\n\\.\n\\connect elsewhere\n\tCOPY t FROM stdin;\n-- not SQL /* either */\n`;
  return `COMMENT ON TABLE public.commented IS ${literal(piece.repeat(Math.ceil((3.2 * MB) / piece.length)))};`;
}

// Each case is a backup, four restores and two deep verifications: minutes on a busy machine.
describe('objects at PostgreSQL limits, in every format', { timeout: 300_000 }, () => {
  it('63-byte names everywhere: schema, tables, columns, constraints, index, sequence, function, trigger, view, owner and grantee roles', async () => {
    const names = longNames(randomBytes(4).toString('hex'));
    for (const name of Object.values(names)) expect(Buffer.byteLength(name), name).toBe(63);
    const source = await createDatabase();
    try {
      await query(source.url, longNamesSql(names));
      await roundTrip('63-byte names', source);
    } finally {
      await dropDatabase(source);
      await dropRoles([names.owner, names.grantee]);
    }
  });

  it('a function body of several MB (PL/pgSQL and BEGIN ATOMIC) and a comment of several MB', async () => {
    const source = await createDatabase({ sql: 'CREATE TABLE public.commented (id int); INSERT INTO public.commented VALUES (1)' });
    await query(source.url, bigPlpgsqlFunction());
    await query(source.url, bigAtomicFunction());
    await query(source.url, bigComment());
    const [sizes] = await query<{ body: number; atomic: number; comment: number; total: string }>(
      source.url,
      `SELECT octet_length(prosrc) AS body, octet_length(pg_get_functiondef('public.big_atomic'::regproc)) AS atomic,
              octet_length(obj_description('public.commented'::regclass, 'pg_class')) AS comment, public.big_body()::text AS total
         FROM pg_proc WHERE proname = 'big_body'`,
    );
    expect(sizes!.body).toBeGreaterThan(3 * MB);
    expect(sizes!.atomic).toBeGreaterThan(3 * MB);
    expect(sizes!.comment).toBeGreaterThan(3 * MB);
    await roundTrip('several-MB bodies and comment', source);
    await dropDatabase(source);
  });

  it('a partition tree four levels deep (range → list → hash → range) with rows in every leaf', async () => {
    const source = await createDatabase({
      sql: `
        CREATE TABLE events (at date NOT NULL, region text NOT NULL, id int NOT NULL, seen int NOT NULL, payload text,
          PRIMARY KEY (at, region, id, seen)) PARTITION BY RANGE (at);
        CREATE INDEX ON events (payload);
        DO $$ DECLARE y int; r text; h int; BEGIN
          FOREACH y IN ARRAY ARRAY[2025, 2026] LOOP
            EXECUTE format('CREATE TABLE events_%s PARTITION OF events FOR VALUES FROM (%L) TO (%L) PARTITION BY LIST (region)', y, make_date(y, 1, 1), make_date(y + 1, 1, 1));
            FOREACH r IN ARRAY ARRAY['eu', 'us'] LOOP
              EXECUTE format('CREATE TABLE events_%s_%s PARTITION OF events_%s FOR VALUES IN (%L) PARTITION BY HASH (id)', y, r, y, r);
              FOR h IN 0..2 LOOP
                EXECUTE format('CREATE TABLE events_%s_%s_%s PARTITION OF events_%s_%s FOR VALUES WITH (MODULUS 3, REMAINDER %s) PARTITION BY RANGE (seen)', y, r, h, y, r, h);
                EXECUTE format('CREATE TABLE events_%s_%s_%s_low PARTITION OF events_%s_%s_%s FOR VALUES FROM (MINVALUE) TO (50)', y, r, h, y, r, h);
                EXECUTE format('CREATE TABLE events_%s_%s_%s_high PARTITION OF events_%s_%s_%s DEFAULT', y, r, h, y, r, h);
              END LOOP;
            END LOOP;
            EXECUTE format('CREATE TABLE events_%s_other PARTITION OF events_%s DEFAULT', y, y);
          END LOOP;
        END $$;
        INSERT INTO events SELECT make_date(2025 + g % 2, 1 + g % 12, 1 + g % 28), (ARRAY['eu', 'us', 'ap'])[1 + g % 3], g, g % 100, CASE WHEN g % 7 = 0 THEN NULL ELSE 'event ' || g END
          FROM generate_series(1, 3000) g;`,
    });
    const empty = await query<{ leaf: string }>(
      source.url,
      `SELECT relid::text AS leaf FROM pg_partition_tree('events') WHERE isleaf
          AND (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %s', relid), false, true, '')))[1]::text = '0'`,
    );
    expect(empty).toEqual([]);
    const depth = (await query<{ depth: number }>(source.url, `SELECT max(level)::int AS depth FROM pg_partition_tree('events')`))[0]!.depth;
    expect(depth).toBe(4);
    await roundTrip('partition tree', source);
    await dropDatabase(source);
  });

  it('rows of several MB: four TOASTed values of about 1 MB each (text with COPY escapes, bytea, jsonb) in one row', async () => {
    const source = await createDatabase({
      sql: `
        CREATE TABLE heavy (id int PRIMARY KEY, plain text, escaped text, raw bytea, doc jsonb);
        INSERT INTO heavy SELECT g,
          (SELECT string_agg(md5(g::text || i), '') FROM generate_series(1, 32768) i),
          repeat(E'tab\\there\\\\back\\nslash\\r\\\\.\\n', 65536 + g),
          (SELECT decode(string_agg(md5(i::text || g), ''), 'hex') FROM generate_series(1, 65536) i),
          (SELECT jsonb_agg(jsonb_build_object('k', i, 'v', md5(i::text))) FROM generate_series(1, 16384) i)
          FROM generate_series(1, 2) g;
        INSERT INTO heavy (id) VALUES (3);`,
    });
    const bytes = (await query<{ bytes: number }>(source.url, `SELECT min(octet_length(plain) + octet_length(escaped) + octet_length(raw) + octet_length(doc::text))::int AS bytes FROM heavy WHERE plain IS NOT NULL`))[0]!.bytes;
    expect(bytes).toBeGreaterThan(3 * MB);
    await roundTrip('several-MB rows', source);
    await dropDatabase(source);
  });
});
