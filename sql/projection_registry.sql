-- The projection registry as a restore or a manual edit may leave it, and
-- handlers swapped under it: never a crash, an error naming the
-- projection only when that projection runs, other projections unaffected.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE SCHEMA app;
-- pg_temp.try, kept across the new sessions (\c) this test opens, and
-- showing the projection the error's context names
CREATE FUNCTION app.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text; ctx text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
        det = PG_EXCEPTION_DETAIL, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '')
        || coalesce(' (' || substring(ctx from '(projection "[^"]*")') || ')', '');
END $$;
CREATE TABLE app.seen (projection text, event_type text);
CREATE FUNCTION app.see_a(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.seen VALUES ('a', e.event_type) $$;
CREATE FUNCTION app.see_b(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.seen VALUES ('b', e.event_type) $$;
CREATE FUNCTION app.see_c(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.seen VALUES ('c', e.event_type) $$;
SELECT es.create_projection('a', 'app.see_a(es.events)', event_types => '{A1,A2}', tables => '{app.seen}');
SELECT es.create_projection('b', 'app.see_b(es.events)', event_types => '{B}');
SELECT es.create_projection('c', 'app.see_c(es.events)', event_types => '{C1,C2}', async => true);

-- A NULL in event_types (issue 13): it matches no event type, in the
-- trigger, in async runs and in the view's lag.  A new session reads the
-- edited registry (DML sends no invalidation).
UPDATE es.projections_registry SET event_types = ARRAY['A1', NULL] WHERE name = 'a';
UPDATE es.projections_registry SET event_types = ARRAY[NULL, 'C2'] WHERE name = 'c';
\c
SELECT es.append('s-1', NULL, es.event('A1', '{}'), es.event('A2', '{}'), es.event('B', '{}'),
                              es.event('C1', '{}'), es.event('C2', '{}'));
SELECT es.run_projections();
SELECT * FROM app.seen ORDER BY projection, event_type;
SELECT name, event_types, events_behind FROM es.projections ORDER BY name;
SELECT es.rebuild_projection('a');
SELECT * FROM app.seen ORDER BY projection, event_type;
-- an empty array: nothing matches
UPDATE es.projections_registry SET event_types = '{}' WHERE name = 'a';
\c
SELECT es.append('s-2', NULL, es.event('A1', '{}'));
SELECT count(*) AS seen_a FROM app.seen WHERE projection = 'a';
UPDATE es.projections_registry SET event_types = '{A1,A2}' WHERE name = 'a';

-- A NULL table is skipped; a table that no longer exists is not locked.
UPDATE es.projections_registry SET tables = ARRAY[NULL, 'app.seen'::regclass] WHERE name = 'a';
\c
SELECT es.append('s-3', NULL, es.event('A1', '{}'));
SELECT es.rebuild_projection('a');
UPDATE es.projections_registry SET tables = ARRAY[NULL]::regclass[] WHERE name = 'a';
\c
SELECT app.try($$SELECT es.rebuild_projection('a')$$);
UPDATE es.projections_registry SET tables = '{app.seen}' WHERE name = 'a';

-- A handler signature that does not parse, a handler that no longer
-- exists: appends of the types that projection handles fail, naming it;
-- the others go on.
UPDATE es.projections_registry SET handler = 'app.see_b(' WHERE name = 'b';
\c
SELECT app.try($$SELECT es.append('s-4', NULL, es.event('B', '{}'))$$);
SELECT es.append('s-4', NULL, es.event('A1', '{}'));
UPDATE es.projections_registry SET handler = 'app.missing(es.events)' WHERE name = 'b';
\c
SELECT app.try($$SELECT es.append('s-4', NULL, es.event('B', '{}'))$$);
SELECT es.append('s-4', NULL, es.event('A1', '{}'));
UPDATE es.projections_registry SET handler = 'app.see_b(es.events)' WHERE name = 'b';

-- Captured settings that cannot be applied: the projection fails, naming
-- itself; a NULL element too (the rule of every registry).
UPDATE es.projections_registry SET settings = ARRAY['TimeZone'] WHERE name = 'b';
\c
SELECT app.try($$SELECT es.append('s-5', NULL, es.event('B', '{}'))$$);
UPDATE es.projections_registry SET settings = ARRAY['TimeZone=Nowhere/Else'] WHERE name = 'b';
\c
SELECT app.try($$SELECT es.append('s-5', NULL, es.event('B', '{}'))$$);
SELECT es.append('s-5', NULL, es.event('A1', '{}'));
UPDATE es.projections_registry SET settings = ARRAY[NULL, 'TimeZone=UTC'] WHERE name = 'b';
\c
SELECT app.try($$SELECT es.append('s-5', NULL, es.event('B', '{}'))$$);
UPDATE es.projections_registry SET settings = ARRAY['TimeZone=UTC'] WHERE name = 'b';
\c
SELECT es.append('s-5', NULL, es.event('B', '{}'));

-- A handler dropped and created again with another return type or kind
-- (issue 13): resolved again and refused with a clean error, inline, in a
-- rebuild and in async runs; never called as a handler.
DELETE FROM app.seen;
SELECT es.append('s-6', NULL, es.event('B', '{}'));   -- b's handler resolved
DROP FUNCTION app.see_b(es.events);
CREATE FUNCTION app.see_b(e es.events) RETURNS int LANGUAGE sql
    AS $$ INSERT INTO app.seen VALUES ('b returning int', e.event_type) RETURNING 1 $$;
SELECT app.try($$SELECT es.append('s-6', NULL, es.event('B', '{}'))$$);
DROP FUNCTION app.see_b(es.events);
CREATE FUNCTION app.see_b(e es.events) RETURNS SETOF void LANGUAGE sql AS 'SELECT';
SELECT app.try($$SELECT es.append('s-6', NULL, es.event('B', '{}'))$$);
DROP FUNCTION app.see_b(es.events);
CREATE PROCEDURE app.see_b(e es.events) LANGUAGE sql AS 'SELECT';
SELECT app.try($$SELECT es.append('s-6', NULL, es.event('B', '{}'))$$);
DROP PROCEDURE app.see_b(es.events);
CREATE FUNCTION app.see_a(x int) RETURNS void LANGUAGE sql AS 'SELECT';
DROP FUNCTION app.see_a(es.events);
ALTER FUNCTION app.see_a(int) RENAME TO see_a_renamed;
SELECT app.try($$SELECT es.rebuild_projection('a')$$);
SELECT count(*) AS untouched FROM app.seen;
DROP FUNCTION app.see_c(es.events);
CREATE FUNCTION app.see_c(e es.events) RETURNS int LANGUAGE sql AS 'SELECT 1';
SELECT es.append('s-6', NULL, es.event('C2', '{}'));
SELECT es.run_projections();
SELECT name, error_sqlstate, error_message FROM es.projections WHERE name = 'c';
SELECT es.append('s-6', NULL, es.event('Other', '{}'));  -- other types go on
SELECT * FROM app.seen;

-- The same within one trigger firing: a's handler swaps b's while the
-- firing still holds the registry it started with; b's handler is
-- resolved again before it is called.
CREATE OR REPLACE FUNCTION app.see_a(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DROP FUNCTION app.see_b(es.events);
    CREATE FUNCTION app.see_b(e es.events) RETURNS int LANGUAGE sql AS 'SELECT 1';
END $$;
CREATE FUNCTION app.see_b(e es.events) RETURNS void LANGUAGE sql AS 'SELECT';
UPDATE es.projections_registry SET event_types = '{B}' WHERE name = 'a';
\c
SELECT es.append('s-7', NULL, es.event('Other', '{}'));
SELECT app.try($$SELECT es.append('s-7', NULL, es.event('B', '{}'))$$);

-- The handler's owner loses EXECUTE: refused when resolved again.
SET client_min_messages = warning;
DROP ROLE IF EXISTS es_reg;
RESET client_min_messages;
CREATE ROLE es_reg;
GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                          es.drop_projection(text) TO es_reg;
CREATE FUNCTION app.see_d(e es.events) RETURNS void LANGUAGE sql AS 'SELECT';
GRANT USAGE ON SCHEMA app TO es_reg;
SET ROLE es_reg;
SELECT es.create_projection('d', 'app.see_d(es.events)', event_types => '{D}');
RESET ROLE;
SELECT es.append('s-8', NULL, es.event('D', '{}'));
REVOKE EXECUTE ON FUNCTION app.see_d(es.events) FROM PUBLIC;
SELECT app.try($$SELECT es.append('s-8', NULL, es.event('D', '{}'))$$);
GRANT EXECUTE ON FUNCTION app.see_d(es.events) TO es_reg;
SELECT es.append('s-8', NULL, es.event('D', '{}'));

SET client_min_messages = warning;
SELECT es.drop_projection(name) FROM es.projections;
DROP SCHEMA app CASCADE;
REVOKE ALL ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                       es.drop_projection(text) FROM es_reg;
DROP ROLE es_reg;
RESET client_min_messages;
