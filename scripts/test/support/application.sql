-- application.sql -- loaded after awkward.sql (createDatabase({ seed: 'application' })): what
-- real applications have, on top of the awkward content. Unlike awkward.sql it creates two roles
-- (cluster-wide, if missing): kit_awkward_owner owns objects, kit_awkward_reader is granted some.
-- Run in autocommit mode (a procedure here commits).

------------------------------------------------------------------------------
-- What real applications have: dozens of routines, procedures, triggers with
-- bodies, rules, views over views, policies, comments on everything, several
-- owners and grants. Bodies, comments and defaults hold lines that look like
-- statements (BEGIN; END; COMMIT; COPY ... FROM stdin; \.; OWNER TO; GRANT)
-- on purpose: only what sits at the top level of a script is a statement.
------------------------------------------------------------------------------
DO $roles$
BEGIN
  BEGIN
    CREATE ROLE kit_awkward_owner NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
  BEGIN
    CREATE ROLE kit_awkward_reader NOLOGIN;
  EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
  END;
END
$roles$;

CREATE SCHEMA billing AUTHORIZATION kit_awkward_owner;
COMMENT ON SCHEMA billing IS 'Billing, owned by another role
BEGIN;
COMMIT;';
GRANT USAGE ON SCHEMA billing TO kit_awkward_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE kit_awkward_owner IN SCHEMA billing GRANT SELECT ON TABLES TO kit_awkward_reader;

CREATE TABLE billing.invoices (
  id       integer PRIMARY KEY,
  customer text NOT NULL,
  total    numeric(12, 2) NOT NULL DEFAULT 0 CHECK (total >= 0),
  status   text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'void')),
  note     text DEFAULT E'END;\nCOMMIT;\n\\.'
);
CREATE TABLE billing.invoice_lines (
  invoice_id integer REFERENCES billing.invoices ON DELETE CASCADE,
  line       integer,
  amount     numeric(12, 2) NOT NULL,
  PRIMARY KEY (invoice_id, line)
);
CREATE TABLE billing.audit_log (
  id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  what  text NOT NULL
);
CREATE TABLE billing.invoices_archive (LIKE billing.invoices);
CREATE TABLE billing."weird$name$" ("$$" text, "END;" text DEFAULT 'BEGIN;', "--" int);
ALTER TABLE billing.invoices OWNER TO kit_awkward_owner;
ALTER TABLE billing.invoice_lines OWNER TO kit_awkward_owner;
ALTER TABLE billing.audit_log OWNER TO kit_awkward_owner;
ALTER TABLE billing.invoices_archive OWNER TO kit_awkward_owner;
ALTER TABLE billing."weird$name$" OWNER TO kit_awkward_owner;
GRANT SELECT ON ALL TABLES IN SCHEMA billing TO kit_awkward_reader;
GRANT INSERT, UPDATE (status) ON billing.invoices TO kit_awkward_reader;
COMMENT ON COLUMN billing.invoices.note IS $c$a note; $tag$ inside $other$ and 'unbalanced quote$c$;
COMMENT ON COLUMN billing."weird$name$"."$$" IS 'a column named $$';

-- Two dozen PL/pgSQL functions and a dozen SQL-standard bodies, each commented and owned.
DO $make$
BEGIN
  FOR i IN 1..24 LOOP
    EXECUTE format($f$CREATE FUNCTION billing.rule_%s(x numeric) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $body$
DECLARE
  note text := 'BEGIN;
COMMIT;
END;';
BEGIN
  -- COPY billing.invoices (id) FROM stdin;
  IF x IS NULL THEN
    RETURN NULL;
  END IF;
  /* a /* nested */ comment with ROLLBACK; inside */
  RETURN x * %s + length($q$
ALTER TABLE billing.invoices OWNER TO nobody;
GRANT ALL ON billing.invoices TO PUBLIC;
\.
$q$) + length(note);
END;
$body$$f$, i, i);
    EXECUTE format('COMMENT ON FUNCTION billing.rule_%s(numeric) IS %L', i, format(E'rule %s\nEND;\nCOPY billing.invoices (id) FROM stdin;', i));
    EXECUTE format('ALTER FUNCTION billing.rule_%s(numeric) OWNER TO kit_awkward_owner', i);
    IF i % 3 = 0 THEN
      EXECUTE format('REVOKE EXECUTE ON FUNCTION billing.rule_%s(numeric) FROM PUBLIC', i);
      EXECUTE format('GRANT EXECUTE ON FUNCTION billing.rule_%s(numeric) TO kit_awkward_reader', i);
    END IF;
  END LOOP;
  FOR i IN 1..12 LOOP
    EXECUTE format($f$CREATE FUNCTION billing.total_%s(inv integer) RETURNS numeric
LANGUAGE sql STABLE
BEGIN ATOMIC
  SELECT CASE WHEN count(*) = 0 THEN 0 ELSE sum(amount) * %s END FROM billing.invoice_lines WHERE invoice_id = inv;
END$f$, i, i);
    EXECUTE format('COMMENT ON FUNCTION billing.total_%s(integer) IS %L', i, format('total %s; END;', i));
  END LOOP;
END
$make$;

CREATE PROCEDURE billing.close_invoice(inv integer) LANGUAGE plpgsql AS $$
BEGIN
  UPDATE billing.invoices SET status = 'closed' WHERE id = inv;
  COMMIT;
END;
$$;
CREATE PROCEDURE billing.reopen_invoice(inv integer) LANGUAGE sql
BEGIN ATOMIC
  UPDATE billing.invoices SET status = 'open' WHERE id = inv;
END;
COMMENT ON PROCEDURE billing.close_invoice(integer) IS 'commits by itself: COMMIT;';
ALTER PROCEDURE billing.close_invoice(integer) OWNER TO kit_awkward_owner;

CREATE FUNCTION billing.log_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO billing.audit_log (what) VALUES (TG_OP || ' on ' || TG_TABLE_NAME || E'\nEND;');
  RETURN COALESCE(NEW, OLD);
END;
$$;
COMMENT ON FUNCTION billing.log_change() IS 'trigger body';
CREATE TRIGGER invoices_log AFTER INSERT OR UPDATE OR DELETE ON billing.invoices
  FOR EACH ROW EXECUTE FUNCTION billing.log_change();
CREATE TRIGGER lines_log AFTER INSERT ON billing.invoice_lines
  FOR EACH STATEMENT EXECUTE FUNCTION billing.log_change();
COMMENT ON TRIGGER invoices_log ON billing.invoices IS 'logs every change; BEGIN;';

CREATE RULE archive_on_delete AS ON DELETE TO billing.invoices
  DO ALSO INSERT INTO billing.invoices_archive SELECT OLD.*;
COMMENT ON RULE archive_on_delete ON billing.invoices IS 'keeps what is deleted';

-- Views over views, one updatable through a rule
CREATE VIEW billing.open_invoices AS
  SELECT id, customer, total FROM billing.invoices WHERE status = 'open';
CREATE RULE open_invoices_update AS ON UPDATE TO billing.open_invoices
  DO INSTEAD UPDATE billing.invoices SET total = NEW.total WHERE id = OLD.id;
CREATE VIEW billing.big_open_invoices AS
  SELECT * FROM billing.open_invoices WHERE total > 100;
CREATE VIEW billing.customer_totals AS
  SELECT customer, sum(total) AS total, count(*) AS n FROM billing.big_open_invoices GROUP BY customer;
CREATE VIEW billing.top_customer WITH (security_barrier) AS
  SELECT * FROM billing.customer_totals ORDER BY total DESC, customer LIMIT 1;
COMMENT ON VIEW billing.open_invoices IS 'open; END;';
COMMENT ON VIEW billing.customer_totals IS E'per customer\n\\.\nCOMMIT;';
ALTER VIEW billing.customer_totals OWNER TO kit_awkward_owner;
GRANT SELECT ON billing.customer_totals, billing.top_customer TO kit_awkward_reader;

-- Policies
ALTER TABLE billing.invoices ENABLE ROW LEVEL SECURITY;
CREATE POLICY invoices_reader ON billing.invoices FOR SELECT TO kit_awkward_reader USING (status <> 'void');
CREATE POLICY invoices_owner ON billing.invoices TO kit_awkward_owner USING (true) WITH CHECK (total >= 0);
COMMENT ON POLICY invoices_reader ON billing.invoices IS 'readers see all but void; END;';

-- Data, with the triggers and the rule firing as an application's writes would
INSERT INTO billing.invoices (id, customer, total, status)
SELECT i, 'customer ' || (i % 7), (i * 37 % 500)::numeric, CASE WHEN i % 5 = 0 THEN 'void' ELSE 'open' END
FROM generate_series(1, 60) AS i;
INSERT INTO billing.invoice_lines SELECT i, j, (i * j % 90)::numeric FROM generate_series(1, 60) AS i, generate_series(1, 3) AS j;
DELETE FROM billing.invoices WHERE id = 60;
INSERT INTO billing."weird$name$" VALUES ('\.', E'BEGIN;\nCOMMIT;', 1), ('$$', 'COPY x FROM stdin;', 2), (E'\\.', NULL, 3);
CALL billing.close_invoice(1);

ANALYZE;
