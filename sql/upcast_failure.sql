-- Upcaster failures stay with their event type: a broken step (its function
-- raises, was dropped or replaced by one of another signature; its row was
-- corrupted by hand) fails the reads that need it, and nothing else --
-- appends and reads of other types, filtered logs, inline projections.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE SCHEMA app;
-- an inline projection that wants Y only
CREATE TABLE app.ys (stream_id text, data jsonb);
CREATE FUNCTION app.on_y(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.ys VALUES (e.stream_id, e.data) $$;
SELECT es.create_projection('ys', 'app.on_y(es.events)', event_types => '{Y}',
                            tables => '{app.ys}');
-- X v1 -> v2 by a function, Y v1 -> v2 by rules
CREATE FUNCTION app.x_v2(data jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT data || '{"x": 2}' $$;
SELECT es.create_upcaster('X', 1, fn => 'app.x_v2(jsonb)');
SELECT es.create_upcaster('Y', 1, '[{"op": "set", "target": "$.y", "value": 2, "if_exists": "keep"}]');
SELECT es.append('x-1', 0, es.event('X', '{}', schema_version => 1));
SELECT es.append('y-1', 0, es.event('Y', '{}', schema_version => 1));

------------------------------------------------------------------------
-- X's function raises
------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION app.x_v2(data jsonb) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN RAISE EXCEPTION 'x_v2 is broken'; END $$;
-- reading X fails ...
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
SELECT pg_temp.try($$SELECT count(*) FROM es.read_all(0)$$);
-- ... appending X does not (the projection does not want X, so nothing
-- upcasts it), nor does anything about Y
SELECT es.append('x-1', 1, es.event('X', '{"again": true}', schema_version => 1));
SELECT es.append('y-1', 1, es.event('Y', '{"n": 2}', schema_version => 1));
SELECT stream_id, data FROM app.ys ORDER BY data::text;
SELECT stream_version, event_type, schema_version, data FROM es.read_stream('y-1');
-- a log filtered to Y runs no upcaster of X
SELECT stream_id, stream_version, event_type, data FROM es.read_all(0, event_types => '{Y}');
SELECT es.create_subscription('y-only', event_types => '{Y}');
SELECT stream_id, stream_version, data FROM es.poll('y-only');
SELECT es.drop_subscription('y-only');
-- nor do a rebuild, a back-fill or an async catch-up of a projection that
-- does not want X
SELECT es.rebuild_projection('ys');
SELECT stream_id, data FROM app.ys ORDER BY data::text;
CREATE TABLE app.ys2 (stream_id text, data jsonb);
CREATE FUNCTION app.on_y2(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO app.ys2 VALUES (e.stream_id, e.data) $$;
SELECT es.create_projection('ys2', 'app.on_y2(es.events)', event_types => '{Y}',
                            tables => '{app.ys2}');
SELECT count(*) AS back_filled FROM app.ys2;
SELECT es.drop_projection('ys2');
TRUNCATE app.ys2;
SELECT es.create_projection('ys2', 'app.on_y2(es.events)', event_types => '{Y}',
                            async => true, tables => '{app.ys2}');
SELECT es.run_projections();
SELECT count(*) AS caught_up FROM app.ys2;
SELECT name, error_sqlstate FROM es.projections WHERE name = 'ys2';
SELECT es.drop_projection('ys2');

------------------------------------------------------------------------
-- X's function replaced by one of another signature (drop and create
-- again): a clean error for X's readers, no crash
------------------------------------------------------------------------
DROP FUNCTION app.x_v2(jsonb);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
CREATE FUNCTION app.x_v2(data jsonb) RETURNS int LANGUAGE sql AS 'SELECT 42';
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('X', 1, '{}')$$);
DROP FUNCTION app.x_v2(jsonb);
CREATE FUNCTION app.x_v2(data jsonb) RETURNS text LANGUAGE sql AS $$ SELECT '{"a": 1}' $$;
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
DROP FUNCTION app.x_v2(jsonb);
CREATE FUNCTION app.x_v2(data jsonb) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT data';
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
DROP FUNCTION app.x_v2(jsonb);
CREATE PROCEDURE app.x_v2(data jsonb) LANGUAGE sql AS 'SELECT 1';
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
DROP PROCEDURE app.x_v2(jsonb);
-- in another session too (it resolves the name anew)
\c
SET client_min_messages = warning;
CREATE FUNCTION app.x_v2(data jsonb) RETURNS int LANGUAGE sql AS 'SELECT 42';
\c
SELECT count(*) FROM es.read_all(0, event_types => '{Y}');
SELECT stream_version, data FROM es.read_stream('x-1');
\c
DROP FUNCTION app.x_v2(jsonb);
-- the right signature again: X reads again
CREATE FUNCTION app.x_v2(data jsonb) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT data || '{"x": 2}' $$;
SELECT stream_version, data FROM es.read_stream('x-1');

------------------------------------------------------------------------
-- Rows corrupted by hand (the owner may write the registry directly)
------------------------------------------------------------------------
CREATE FUNCTION pg_temp.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text; msg text; det text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
    RETURN st || ': ' || msg || coalesce(' | ' || nullif(det, ''), '');
END $$;
-- what still works with X's row broken: Y's appends (which look up Y's
-- latest version), X's appends, reads of Y, the log filtered to Y
CREATE FUNCTION pg_temp.others_work() RETURNS TABLE (what text, result text)
LANGUAGE sql AS $$
    SELECT 'append Y', pg_temp.try($q$SELECT es.append('y-2', NULL, es.event('Y', '{}'))$q$)
    UNION ALL
    SELECT 'append X', pg_temp.try($q$SELECT es.append('x-2', NULL, es.event('X', '{}'))$q$)
    UNION ALL
    SELECT 'read Y', pg_temp.try($q$SELECT * FROM es.read_stream('y-1')$q$)
    UNION ALL
    SELECT 'read_all Y', pg_temp.try($q$SELECT * FROM es.read_all(0, event_types => '{Y}')$q$)
    UNION ALL
    SELECT 'read X', pg_temp.try($q$SELECT * FROM es.read_stream('x-1')$q$)
$$;

-- rules that do not compile
SELECT es.drop_upcaster('X');
SELECT es.create_upcaster('X', 1, '[{"op": "set", "target": "$.x", "value": 2, "if_exists": "keep"}]');
UPDATE es.upcasters_registry SET rules = '[{"op": "frobnicate"}]' WHERE event_type = 'X';
SELECT * FROM pg_temp.others_work();
-- a failed compilation is not kept: the next read fails the same way
SELECT pg_temp.try($$SELECT * FROM es.read_stream('x-1')$$);
-- a function name that does not parse
UPDATE es.upcasters_registry SET rules = NULL, fn = 'app."x_v2' WHERE event_type = 'X';
SELECT * FROM pg_temp.others_work();
-- an unqualified name (a stored name is always schema-qualified: a
-- reader's search_path must not choose the function)
UPDATE es.upcasters_registry SET fn = 'x_v2' WHERE event_type = 'X';
SELECT * FROM pg_temp.others_work();
-- captured settings that do not parse, or do not apply
UPDATE es.upcasters_registry SET fn = 'app.x_v2', settings = '{nonsense}' WHERE event_type = 'X';
SELECT * FROM pg_temp.others_work();
UPDATE es.upcasters_registry SET settings = '{TimeZone=Nowhere/Special}' WHERE event_type = 'X';
SELECT * FROM pg_temp.others_work();
-- a registrant that no longer exists
CREATE ROLE es_fail_gone;
UPDATE es.upcasters_registry SET settings = DEFAULT, owner = 'es_fail_gone' WHERE event_type = 'X';
DROP ROLE es_fail_gone;
SELECT * FROM pg_temp.others_work();
-- fixed by hand: X reads again
UPDATE es.upcasters_registry SET owner = NULL WHERE event_type = 'X';
SELECT stream_version, data FROM es.read_stream('x-1');

-- A gap (rows written by hand), even a huge one, is no error: a chain
-- stops at a gap, and resumes from a version after it.
INSERT INTO es.upcasters_registry (event_type, from_version, rules) VALUES
    ('Gap', 1, '[{"op": "set", "target": "$.v", "value": 2}]'),
    ('Gap', 2000000000, '[{"op": "set", "target": "$.v", "value": 2000000001}]');
SELECT * FROM es.upcast('Gap', 1, '{}');
SELECT * FROM es.upcast('Gap', 5, '{}');
SELECT * FROM es.upcast('Gap', 2000000000, '{}');
SELECT es.append('gap-1', 0, es.event('Gap', '{}'));
SELECT schema_version FROM es.events WHERE stream_id = 'gap-1';

------------------------------------------------------------------------
-- What a stored type reads as is known without running its chain (only
-- rules rename a type): filters use it.
------------------------------------------------------------------------
-- X2 renames to Y: its events are wanted by the projection and by a log
-- filtered to Y.
INSERT INTO es.upcasters_registry (event_type, from_version, rules)
    VALUES ('X2', 1, '[{"op": "rename_type", "value": "Y"}]');
SELECT es.append('x2-1', 0, es.event('X2', '{"from": "x2"}', schema_version => 1));
SELECT stream_id, data FROM app.ys WHERE stream_id = 'x2-1';
SELECT stream_id, event_type FROM es.read_all(0, event_types => '{Y}') WHERE stream_id = 'x2-1';
-- broken, X2's chain still renames to Y: a filter on Y runs it (and
-- fails), one on Z does not
UPDATE es.upcasters_registry SET rules = '[{"op": "rename_type", "value": "Y"}, {"op": "frobnicate"}]'
    WHERE event_type = 'X2';
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, event_types => '{Y}')$$);
SELECT count(*) FROM es.read_all(0, event_types => '{Z}');
SELECT pg_temp.try($$SELECT es.append('x2-1', 1, es.event('X2', '{}', schema_version => 1))$$);
-- rules whose rename cannot be read are run by every filter (they may
-- rename to anything): the read fails rather than skip an event
UPDATE es.upcasters_registry SET rules = '[{"op": "rename_type", "value": 5}]' WHERE event_type = 'X2';
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, event_types => '{Z}')$$);
DELETE FROM es.upcasters_registry WHERE event_type = 'X2';
SELECT count(*) FROM es.read_all(0, event_types => '{Z}');

DROP SCHEMA app CASCADE;
DROP EXTENSION event_sourcing;
