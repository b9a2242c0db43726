-- The privilege matrix: every function, table, view and sequence of the
-- extension (its members in pg_depend), and its schema, against four
-- grantees, as the rows of a Markdown table.  Read from the catalog with
-- has_*_privilege, so what it shows is what PostgreSQL enforces.
--
--   PUBLIC         the pseudo-role every role belongs to
--   ordinary       a role with no grants of its own
--   registrant     a role granted EXECUTE on what registering upcasters
--                  and projections needs (the functions named below)
--   store owner    the extension's owner (it created es.events; the C
--                  functions run their own SQL as it)
--
-- Used by sql/security_privilege_matrix.sql (the regression test whose
-- expected output is the matrix) and by test/privilege_matrix.sh, which
-- writes docs/privileges.md and that expected output from it.  Run as a
-- superuser in a database with the extension; leaves nothing behind.
SET client_min_messages = warning;
DROP ROLE IF EXISTS es_matrix_ordinary;
DROP ROLE IF EXISTS es_matrix_registrant;
RESET client_min_messages;
CREATE ROLE es_matrix_ordinary;
CREATE ROLE es_matrix_registrant;

-- What a registrant is granted: the registry functions that are not
-- granted to PUBLIC (a new one is not added here without a decision).
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'es'::regnamespace
               AND p.proname IN ('create_upcaster', 'drop_upcaster',
                                 'create_projection', 'drop_projection',
                                 'rebuild_projection', 'run_projections')
    LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s TO es_matrix_registrant', f);
    END LOOP;
END $$;

\pset format unaligned
\pset tuples_only on
SET search_path = pg_catalog;
WITH ext AS (
    SELECT e.oid, e.extowner FROM pg_extension e WHERE e.extname = 'event_sourcing'
), grantee (col, role) AS (
    VALUES (1, 'public'::text), (2, 'es_matrix_ordinary'), (3, 'es_matrix_registrant'),
           (4, (SELECT r.rolname::text FROM pg_roles r, ext WHERE r.oid = ext.extowner))
), object AS (
    -- functions, aggregates and procedures
    SELECT 1 AS ord, p.oid::regprocedure::text AS name,
           CASE p.prokind WHEN 'a' THEN 'aggregate' WHEN 'p' THEN 'procedure'
                ELSE CASE WHEN p.prorettype = 'trigger'::regtype THEN 'trigger function'
                          ELSE 'function' END END
           || CASE WHEN p.prosecdef THEN ', security definer' ELSE '' END AS kind,
           p.oid AS objid, 'function' AS class
    FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid, ext
    WHERE d.classid = 'pg_proc'::regclass AND d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = ext.oid AND d.deptype = 'e'
    UNION ALL
    -- tables, views, sequences
    SELECT CASE c.relkind WHEN 'r' THEN 2 WHEN 'v' THEN 3 ELSE 4 END,
           c.oid::regclass::text,
           CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view'
                WHEN 'S' THEN 'sequence' ELSE c.relkind::text END,
           c.oid, CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END
    FROM pg_depend d JOIN pg_class c ON c.oid = d.objid, ext
    WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_extension'::regclass
      AND d.refobjid = ext.oid AND d.deptype = 'e'
    UNION ALL
    SELECT 0, n.nspname::text, 'schema', n.oid, 'schema'
    FROM pg_namespace n WHERE n.nspname = 'es'
), cell AS (
    SELECT o.ord, o.name, o.kind, g.col,
           coalesce(nullif(array_to_string(ARRAY(
               SELECT p.priv
               FROM unnest(CASE o.class
                   WHEN 'function' THEN ARRAY['EXECUTE']
                   WHEN 'sequence' THEN ARRAY['USAGE', 'SELECT', 'UPDATE']
                   WHEN 'schema' THEN ARRAY['USAGE', 'CREATE']
                   ELSE ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] END)
                   WITH ORDINALITY AS p(priv, n)
               WHERE CASE o.class
                   WHEN 'function' THEN has_function_privilege(g.role, o.objid, p.priv)
                   WHEN 'sequence' THEN has_sequence_privilege(g.role, o.objid, p.priv)
                   WHEN 'schema' THEN has_schema_privilege(g.role, o.objid, p.priv)
                   ELSE has_table_privilege(g.role, o.objid, p.priv) END
               ORDER BY p.n), ', '), ''), '—') AS privs
    FROM object o CROSS JOIN grantee g
)
SELECT '| `' || name || '` | ' || kind || ' | '
       || string_agg(privs, ' | ' ORDER BY col) || ' |'
FROM cell
GROUP BY ord, name, kind
ORDER BY ord, name COLLATE "C";
RESET search_path;
\pset tuples_only off
\pset format aligned

DROP OWNED BY es_matrix_registrant;
DROP ROLE es_matrix_ordinary;
DROP ROLE es_matrix_registrant;
