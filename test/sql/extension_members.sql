-- What the extension event_sourcing consists of, as text to compare between
-- two databases (test/t/upgrade.sh: a store updated from an old version
-- against a fresh install of the new one).  pg_dump --schema-only leaves
-- extension members out, so this reads the catalog: every member
-- (pg_depend, deptype 'e') with its definition, one block per object in a
-- stable order; then the extension itself (version, the tables and
-- sequences it registered for pg_dump), its schema, and the initial
-- privileges pg_dump compares grants against (pg_init_privs).
--
-- Run with psql -X -At -f; the output has no OIDs and no object owners.

-- an aclitem[] as text, its items sorted (the order of grants does not
-- matter); NULL is the object's default privileges
CREATE FUNCTION pg_temp.acl_text(acl aclitem[]) RETURNS text
LANGUAGE sql IMMUTABLE
RETURN coalesce((SELECT string_agg(a::text, ' ' ORDER BY a::text) FROM unnest(acl) a),
                '(default)');

WITH ext AS (
    SELECT e.* FROM pg_extension e WHERE e.extname = 'event_sourcing'
),
members AS (
    SELECT d.classid, d.objid, o.type, o.identity
    FROM pg_depend d
    JOIN ext ON d.refobjid = ext.oid
    CROSS JOIN LATERAL pg_identify_object(d.classid, d.objid, 0) o
    WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
-- functions and procedures: their whole definition (language, volatility,
-- strictness, parallel safety, SECURITY DEFINER, SET settings, cost, rows,
-- body or C symbol), privileges, comment
functions AS (
    SELECT m.type, m.identity,
           pg_get_functiondef(p.oid)
           || E'\n  acl: ' || pg_temp.acl_text(p.proacl)
           || E'\n  comment: ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS definition
    FROM members m JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    WHERE p.prokind <> 'a'
),
aggregates AS (
    SELECT m.type, m.identity,
           format(E'  arguments: %s\n  result: %s\n  strict: %s, parallel: %s, volatility: %s\n  %s',
                  pg_get_function_arguments(p.oid), pg_get_function_result(p.oid),
                  p.proisstrict, p.proparallel, p.provolatile,
                  jsonb_strip_nulls(jsonb_build_object(
                      'kind', a.aggkind, 'direct arguments', a.aggnumdirectargs,
                      'sfunc', a.aggtransfn::regprocedure, 'stype', a.aggtranstype::regtype,
                      'initcond', a.agginitval,
                      'finalfunc', nullif(a.aggfinalfn, 0)::regprocedure,
                      'finalextra', a.aggfinalextra, 'finalmodify', a.aggfinalmodify,
                      'combinefunc', nullif(a.aggcombinefn, 0)::regprocedure,
                      'serialfunc', nullif(a.aggserialfn, 0)::regprocedure,
                      'deserialfunc', nullif(a.aggdeserialfn, 0)::regprocedure,
                      'msfunc', nullif(a.aggmtransfn, 0)::regprocedure,
                      'minvfunc', nullif(a.aggminvtransfn, 0)::regprocedure,
                      'mfinalfunc', nullif(a.aggmfinalfn, 0)::regprocedure,
                      'mstype', nullif(a.aggmtranstype, 0)::regtype,
                      'minitcond', a.aggminitval,
                      'sortop', nullif(a.aggsortop, 0)::regoperator)))
           || E'\n  acl: ' || pg_temp.acl_text(p.proacl)
           || E'\n  comment: ' || coalesce(obj_description(p.oid, 'pg_proc'), '-') AS definition
    FROM members m
    JOIN pg_proc p ON m.classid = 'pg_proc'::regclass AND p.oid = m.objid
    JOIN pg_aggregate a ON a.aggfnoid = p.oid
),
-- tables, views, sequences: columns in order (types, collations, NOT
-- NULL, defaults, identity, generated, column privileges and comments),
-- constraints, indexes, triggers (with their enabled state: O origin,
-- A always, R replica, D disabled), rules, policies, the view's query, the
-- sequence's parameters and owning column, options, privileges, comment
relations AS (
    SELECT m.type, m.identity,
           format('  kind: %s, persistence: %s, options: %s, row security: %s/%s, replica identity: %s',
                  c.relkind, c.relpersistence, coalesce(c.reloptions::text, '-'),
                  c.relrowsecurity, c.relforcerowsecurity, c.relreplident)
           || E'\n  acl: ' || pg_temp.acl_text(c.relacl)
           || E'\n  comment: ' || coalesce(obj_description(c.oid, 'pg_class'), '-')
           || coalesce((
               SELECT string_agg(format(E'\n  column %I %s%s%s%s%s%s%s%s%s', a.attname,
                                        format_type(a.atttypid, a.atttypmod),
                                        CASE WHEN a.attcollation <> t.typcollation
                                             THEN ' collate ' || a.attcollation::regcollation END,
                                        CASE WHEN a.attnotnull THEN ' not null' END,
                                        CASE WHEN a.attgenerated = 's' THEN ' generated always as '
                                             WHEN a.atthasdef THEN ' default ' END
                                        || pg_get_expr(ad.adbin, ad.adrelid),
                                        CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text END,
                                        CASE WHEN a.attacl IS NOT NULL
                                             THEN ' acl: ' || pg_temp.acl_text(a.attacl) END,
                                        ' options: ' || (
                                            SELECT string_agg(opt, ',' ORDER BY opt)
                                            FROM unnest(a.attoptions) opt
                                            -- an item some builds of PostgreSQL
                                            -- record, different in every table
                                            WHERE opt NOT LIKE 'pg\_attver=%'),
                                        CASE WHEN a.attstattarget <> -1
                                             THEN ' statistics: ' || a.attstattarget END,
                                        ' -- ' || col_description(c.oid, a.attnum)),
                                 '' ORDER BY a.attnum)
               FROM pg_attribute a
               JOIN pg_type t ON t.oid = a.atttypid
               LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 AND c.relkind <> 'S'), '')
           || coalesce((
               SELECT string_agg(format(E'\n  constraint %I %s%s', co.conname,
                                        pg_get_constraintdef(co.oid),
                                        ' -- ' || obj_description(co.oid, 'pg_constraint')),
                                 '' ORDER BY co.conname)
               FROM pg_constraint co WHERE co.conrelid = c.oid), '')
           || coalesce((
               SELECT string_agg(format(E'\n  index %s%s%s', pg_get_indexdef(i.indexrelid),
                                        CASE WHEN i.indisclustered THEN ' (clustered)' END,
                                        ' -- ' || obj_description(i.indexrelid, 'pg_class')),
                                 '' ORDER BY pg_get_indexdef(i.indexrelid))
               FROM pg_index i WHERE i.indrelid = c.oid), '')
           || coalesce((
               SELECT string_agg(format(E'\n  trigger %s (enabled: %s)%s', pg_get_triggerdef(tg.oid),
                                        tg.tgenabled,
                                        ' -- ' || obj_description(tg.oid, 'pg_trigger')),
                                 '' ORDER BY tg.tgname)
               FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal), '')
           || coalesce((
               SELECT string_agg(format(E'\n  rule %s (enabled: %s)', pg_get_ruledef(r.oid), r.ev_enabled),
                                 '' ORDER BY r.rulename)
               FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.rulename <> '_RETURN'), '')
           || coalesce((
               SELECT string_agg(format(E'\n  policy %I %s %s to %s using %s with check %s', po.polname,
                                        po.polcmd, po.polpermissive,
                                        (SELECT string_agg(r::regrole::text, ',' ORDER BY r::regrole::text)
                                         FROM unnest(po.polroles) r),
                                        pg_get_expr(po.polqual, po.polrelid),
                                        pg_get_expr(po.polwithcheck, po.polrelid)),
                                 '' ORDER BY po.polname)
               FROM pg_policy po WHERE po.polrelid = c.oid), '')
           || CASE WHEN c.relkind IN ('v', 'm')
                   THEN E'\n  query:\n' || pg_get_viewdef(c.oid) ELSE '' END
           || coalesce((
               SELECT format(E'\n  sequence %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
                             s.seqtypid::regtype, s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                             s.seqcache, s.seqcycle,
                             coalesce((SELECT d.refobjid::regclass || '.' || quote_ident(a.attname)
                                       FROM pg_depend d
                                       JOIN pg_attribute a ON a.attrelid = d.refobjid
                                                          AND a.attnum = d.refobjsubid
                                       WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                                         AND d.refclassid = 'pg_class'::regclass
                                         AND d.deptype IN ('a', 'i')), '-'))
               FROM pg_sequence s WHERE s.seqrelid = c.oid), '') AS definition
    FROM members m JOIN pg_class c ON m.classid = 'pg_class'::regclass AND c.oid = m.objid
),
-- types: a composite type's attributes, an enum's labels, a domain's base
-- type, default and constraints, a range's subtype
types AS (
    SELECT m.type, m.identity,
           format('  type: %s, category: %s', t.typtype, t.typcategory)
           || coalesce((
               SELECT string_agg(format(E'\n  attribute %I %s', a.attname,
                                        format_type(a.atttypid, a.atttypmod))
                                 || coalesce(' -- ' || col_description(t.typrelid, a.attnum), ''),
                                 '' ORDER BY a.attnum)
               FROM pg_attribute a
               WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped), '')
           || coalesce(E'\n  labels: ' || (
               SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
               FROM pg_enum e WHERE e.enumtypid = t.oid), '')
           || CASE WHEN t.typtype = 'd'
                   THEN format(E'\n  base: %s, not null: %s, default: %s',
                               format_type(t.typbasetype, t.typtypmod), t.typnotnull,
                               coalesce(t.typdefault, '-'))
                   ELSE '' END
           || coalesce((
               SELECT string_agg(format(E'\n  constraint %I %s', co.conname, pg_get_constraintdef(co.oid)),
                                 '' ORDER BY co.conname)
               FROM pg_constraint co WHERE co.contypid = t.oid), '')
           || coalesce((
               SELECT format(E'\n  range of %s', r.rngsubtype::regtype)
               FROM pg_range r WHERE r.rngtypid = t.oid), '')
           || E'\n  acl: ' || pg_temp.acl_text(t.typacl)
           || E'\n  comment: ' || coalesce(obj_description(t.oid, 'pg_type'), '-') AS definition
    FROM members m JOIN pg_type t ON m.classid = 'pg_type'::regclass AND t.oid = m.objid
),
-- anything else (operators, casts, ...): that it exists, and its comment
others AS (
    SELECT m.type, m.identity,
           '  comment: ' || coalesce(obj_description(m.objid, m.classid::regclass::text), '-') AS definition
    FROM members m
    WHERE m.classid NOT IN ('pg_proc'::regclass, 'pg_class'::regclass, 'pg_type'::regclass)
),
objects AS (
    SELECT * FROM functions
    UNION ALL SELECT * FROM aggregates
    UNION ALL SELECT * FROM relations
    UNION ALL SELECT * FROM types
    UNION ALL SELECT * FROM others
)
SELECT text FROM (
    SELECT 1 AS part, o.type AS k1, o.identity AS k2,
           '== ' || o.type || ' ' || o.identity || E'\n' || o.definition AS text
    FROM objects o
    UNION ALL
    -- the extension: its version, and what pg_dump dumps the data of
    SELECT 2, '', '',
           format(E'== extension %s\n  version: %s, relocatable: %s, schema: %s',
                  ext.extname, ext.extversion, ext.extrelocatable, ext.extnamespace::regnamespace)
           || coalesce((
               SELECT string_agg(format(E'\n  dumps %s where %L', cfg.rel::regclass, cfg.cond),
                                 '' ORDER BY cfg.rel::regclass::text)
               FROM unnest(ext.extconfig, ext.extcondition) AS cfg(rel, cond)), '')
    FROM ext
    UNION ALL
    -- its schema (created by CREATE EXTENSION, not a member): privileges
    SELECT 3, '', '',
           format(E'== schema %I\n  acl: %s\n  comment: %s', n.nspname, pg_temp.acl_text(n.nspacl),
                  coalesce(obj_description(n.oid, 'pg_namespace'), '-'))
    FROM ext JOIN pg_namespace n ON n.oid = ext.extnamespace
    UNION ALL
    -- the privileges the extension's scripts left (pg_dump dumps only what
    -- differs from them)
    SELECT 4, pg_describe_object(ip.classoid, ip.objoid, ip.objsubid), '',
           format(E'== initial privileges of %s\n  %s %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
                  ip.privtype, pg_temp.acl_text(ip.initprivs))
    FROM pg_init_privs ip
    WHERE (ip.classoid, ip.objoid) IN (SELECT m.classid, m.objid FROM members m)
       OR (ip.classoid, ip.objoid) IN (SELECT 'pg_namespace'::regclass, ext.extnamespace FROM ext)
) AS blocks
ORDER BY part, k1, k2;
