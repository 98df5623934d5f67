/**
 * SQL the kit adds to a restore's transaction: emptying the target first (so a full restore
 * replaces its contents) and checking foreign keys after a data reload (so a violation rolls
 * back). Pure string builders.
 */

import { literal } from './quote.js';

/**
 * The one way the kit empties a database (a full restore's prelude, db:drop): every user schema
 * dropped with everything in it, event triggers, publications and large objects, and public
 * recreated with the owner, privileges and comment it had. A function in the session's temporary
 * schema, so db:drop can report each step: with `strict` off, a step the user may not do is
 * reported (and what the user owns is dropped with DROP OWNED BY CURRENT_USER) instead of failing.
 */
export const EMPTY_DATABASE_FUNCTION = `
CREATE FUNCTION pg_temp.kit_empty_database(strict boolean)
  RETURNS TABLE (what text, done boolean, problem text) LANGUAGE plpgsql AS $kit$
DECLARE
  r record;
  failed boolean := false;
  public_owner name;
  public_acl aclitem[];
  public_comment text;
BEGIN
  SELECT n.nspowner::regrole::name, n.nspacl, obj_description(n.oid, 'pg_namespace')
    INTO public_owner, public_acl, public_comment
    FROM pg_namespace n WHERE n.nspname = 'public';
  FOR r IN
    SELECT 1 AS o, 'event trigger ' || evtname AS what, format('DROP EVENT TRIGGER %I', evtname) AS sql FROM pg_event_trigger
    UNION ALL
    SELECT 2, 'publication ' || pubname, format('DROP PUBLICATION %I', pubname) FROM pg_publication
    UNION ALL
    SELECT 3, 'schema ' || nspname, format('DROP SCHEMA %I CASCADE', nspname) FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
       AND nspname NOT LIKE 'pg\\_temp\\_%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
    UNION ALL
    SELECT 4, 'objects owned by the current user', 'DROP OWNED BY CURRENT_USER'
    UNION ALL
    SELECT 5, 'large objects', 'SELECT lo_unlink(oid) FROM pg_largeobject_metadata WHERE pg_has_role(lomowner, ''USAGE'')'
    ORDER BY 1, 2
  LOOP
    -- what the current user owns is only worth dropping by ownership after something failed
    CONTINUE WHEN r.o = 4 AND NOT failed;
    what := r.what;
    BEGIN
      EXECUTE r.sql;
      done := true;
      problem := NULL;
    EXCEPTION
      WHEN lock_not_available OR query_canceled THEN
        RAISE; -- a lock held too long, or an interruption: never a step to skip
      WHEN OTHERS THEN
        IF strict THEN RAISE; END IF;
      done := false;
      problem := SQLERRM;
      failed := true;
    END;
    RETURN NEXT;
  END LOOP;
  IF public_owner IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') THEN
    CREATE SCHEMA public;
    EXECUTE format('ALTER SCHEMA public OWNER TO %I', public_owner);
    IF public_acl IS NOT NULL THEN
      REVOKE ALL ON SCHEMA public FROM PUBLIC;
      EXECUTE format('REVOKE ALL ON SCHEMA public FROM %I', public_owner);
      FOR r IN SELECT a.privilege_type, a.is_grantable,
                      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(a.grantee::regrole::name) END AS grantee
                 FROM aclexplode(public_acl) a LOOP
        EXECUTE format('GRANT %s ON SCHEMA public TO %s%s', r.privilege_type, r.grantee,
                       CASE WHEN r.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
      END LOOP;
    END IF;
    IF public_comment IS NOT NULL THEN
      EXECUTE format('COMMENT ON SCHEMA public IS %L', public_comment);
    END IF;
  END IF;
END
$kit$;
`;

/** A restore's prelude: empty the target, failing (and so rolling back) on anything it cannot drop. */
export const EMPTY_DATABASE = `${EMPTY_DATABASE_FUNCTION}
DO $kit$ BEGIN PERFORM pg_temp.kit_empty_database(true); END $kit$;
DROP FUNCTION IF EXISTS pg_temp.kit_empty_database(boolean);
`;

/**
 * Before reloading the named tables' data (pg_dump-quoted names): switch triggers and foreign-key
 * checks off for this transaction and empty the tables. TRUNCATE is fast but refuses a table that
 * another table references; DELETE does not (the references are checked before COMMIT instead,
 * see foreignKeyCheck).
 */
export function emptyTablesForReload(tables: string[]): string {
  if (tables.length === 0) return '';
  const deletes = tables.map((t) => `DELETE FROM ONLY ${t};`).join('\n    ');
  return `SET LOCAL session_replication_role = replica;
DO $kit$
BEGIN
  TRUNCATE TABLE ${tables.map((t) => `ONLY ${t}`).join(', ')};
EXCEPTION WHEN feature_not_supported THEN
    ${deletes}
END
$kit$;`;
}

/**
 * Before a data-only reload: the target's large objects with the OIDs the backup holds are
 * removed, because pg_restore recreates each with lo_create(oid), which fails on an OID in use.
 * Large objects the backup does not hold stay.
 */
export function unlinkLargeObjects(oids: string[]): string {
  if (oids.length === 0) return '';
  return `DO $kit$ BEGIN
  PERFORM pg_catalog.lo_unlink(oid) FROM pg_catalog.pg_largeobject_metadata WHERE oid = ANY(${literal(`{${oids.join(',')}}`)}::oid[]);
END $kit$;`;
}

export const FOREIGN_KEY_MARKER = 'pg-backup-kit foreign key violation';

/**
 * After reloading data with checks off: every foreign key from or to a reloaded table must hold,
 * or the restore rolls back. MATCH SIMPLE: a row with a NULL in the key is not checked.
 */
export function foreignKeyCheck(tables: string[]): string {
  if (tables.length === 0) return '';
  const oids = `ARRAY[${tables.map((t) => `${literal(t)}::regclass`).join(', ')}]::oid[]`;
  return `SET LOCAL session_replication_role = origin;
DO $kit$
DECLARE r record; broken boolean;
BEGIN
  FOR r IN
    SELECT c.conname, c.conrelid::regclass AS child, c.confrelid::regclass AS parent,
           CASE WHEN cr.relkind = 'p' THEN '' ELSE 'ONLY ' END AS child_only,
           CASE WHEN pr.relkind = 'p' THEN '' ELSE 'ONLY ' END AS parent_only,
           string_agg(format('c.%I IS NOT NULL', ca.attname), ' AND ') AS present,
           string_agg(format('p.%I = c.%I', pa.attname, ca.attname), ' AND ') AS matches
      FROM pg_constraint c
      JOIN pg_class cr ON cr.oid = c.conrelid
      JOIN pg_class pr ON pr.oid = c.confrelid
      CROSS JOIN LATERAL unnest(c.conkey, c.confkey) AS k(child_col, parent_col)
      JOIN pg_attribute ca ON ca.attrelid = c.conrelid AND ca.attnum = k.child_col
      JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.parent_col
     WHERE c.contype = 'f' AND c.conparentid = 0 AND (c.conrelid = ANY(${oids}) OR c.confrelid = ANY(${oids}))
     GROUP BY c.oid, c.conname, c.conrelid, c.confrelid, cr.relkind, pr.relkind
  LOOP
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %s%s c WHERE %s AND NOT EXISTS (SELECT 1 FROM %s%s p WHERE %s))',
                   r.child_only, r.child, r.present, r.parent_only, r.parent, r.matches) INTO broken;
    IF broken THEN
      RAISE EXCEPTION '${FOREIGN_KEY_MARKER}: % (rows of % with no match in %)', r.conname, r.child, r.parent;
    END IF;
  END LOOP;
END
$kit$;`;
}
