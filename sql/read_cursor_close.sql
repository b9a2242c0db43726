-- User code that runs between rows (an upcaster function, a projection
-- handler, a reducer) cannot free the cursor the extension reads through:
-- CLOSE ALL or a CLOSE by name fails (24000) and the read goes on, or fails
-- cleanly when the user code lets the error through.  A FETCH or MOVE it
-- runs on that cursor is an error (24000) too, never a read that silently
-- skips events.  Every path that reads through a cursor: read_stream,
-- read_all, poll, a projection's back-fill, rebuild and async run; and the
-- fold paths for good measure.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE SCHEMA app;
SET search_path = app, public;

-- Closes every cursor it can: CLOSE ALL, then each cursor of pg_cursors by
-- name.  Returns how many closes were refused.
CREATE FUNCTION close_everything() RETURNS int LANGUAGE plpgsql AS $$
DECLARE
    r record;
    refused int := 0;
BEGIN
    BEGIN
        EXECUTE 'CLOSE ALL';
    EXCEPTION WHEN invalid_cursor_state THEN
        refused := refused + 1;
    END;
    FOR r IN SELECT name FROM pg_catalog.pg_cursors LOOP
        BEGIN
            EXECUTE format('CLOSE %I', r.name);
        EXCEPTION WHEN invalid_cursor_state OR invalid_cursor_name THEN
            refused := refused + 1;
        END;
    END LOOP;
    RETURN refused;
END $$;
-- Closes the cursors and lets a refusal through.
CREATE FUNCTION close_all_uncaught() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'CLOSE ALL';
END $$;
-- Closes the extension's cursor by its name and lets a refusal through.
CREATE FUNCTION close_by_name_uncaught() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT name FROM pg_catalog.pg_cursors
             WHERE statement LIKE '%FROM es.events%'
               AND statement NOT LIKE '%pg_cursors%' LOOP
        EXECUTE format('CLOSE %I', r.name);
    END LOOP;
END $$;
-- Moves the extension's cursor, or fetches from it.
CREATE FUNCTION move_it(how text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT name FROM pg_catalog.pg_cursors
             WHERE statement LIKE '%FROM es.events%'
               AND statement NOT LIKE '%pg_cursors%' LOOP
        EXECUTE format(how, r.name);
    END LOOP;
END $$;
-- How the user code behaves: 'tame' (catches the refusals), 'all' or
-- 'name' (lets them through), 'move' or 'fetch' (moves the cursor).
CREATE TABLE mode (m text NOT NULL);
INSERT INTO mode VALUES ('tame');
CREATE FUNCTION hostile() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE (SELECT m FROM app.mode)
        WHEN 'tame' THEN PERFORM app.close_everything();
        WHEN 'all' THEN PERFORM app.close_all_uncaught();
        WHEN 'name' THEN PERFORM app.close_by_name_uncaught();
        WHEN 'move' THEN PERFORM app.move_it('MOVE FORWARD ALL IN %I');
        WHEN 'fetch' THEN PERFORM app.move_it('FETCH 1 FROM %I');
    END CASE;
END $$;
-- The SQLSTATE and message of a failing statement, or 'ok' (the portal's
-- number in the message depends on what ran before).
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(pg_temp.try(sql), '<unnamed portal [0-9]+>', '<unnamed portal N>')
$$;

-- An upcaster function, a handler and a reducer that close cursors.
CREATE FUNCTION up(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
    RETURN d || '{"up": true}';
END $$;
CREATE TABLE seen (global_position bigint PRIMARY KEY, up boolean);
CREATE FUNCTION handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
    INSERT INTO app.seen VALUES (e.global_position, (e.data->>'up')::boolean);
END $$;
CREATE TABLE async_seen (LIKE seen);
CREATE FUNCTION async_handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
    INSERT INTO app.async_seen VALUES (e.global_position, (e.data->>'up')::boolean);
END $$;
CREATE FUNCTION apply(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
    RETURN jsonb_build_object('n', coalesce((s->>'n')::int, 0) + 1,
                              'up', coalesce((s->>'up')::int, 0) + coalesce((e.data->>'up')::boolean::int, 0));
END $$;

SELECT es.create_upcaster('Old', 1, fn => 'up(jsonb)') AS registered;
SELECT es.create_reducer('counting', apply => 'apply(jsonb, es.events)');
SELECT es.create_subscription('sub');
-- three events in one stream, two more in another: more than one row per
-- batch, so the cursor is fetched from again after the user code ran
SELECT es.append('acct-1', 0, es.event('Old', '{"i": 1}', schema_version => 1),
                              es.event('Old', '{"i": 2}', schema_version => 1),
                              es.event('Old', '{"i": 3}', schema_version => 1));
SELECT es.append('acct-2', 0, es.event('Old', '{"i": 4}', schema_version => 1),
                              es.event('New', '{"i": 5}'));

-- User code that catches the refusal: every read is whole.
SELECT stream_version, data FROM es.read_stream('acct-1');
SELECT stream_version, data FROM es.read_stream('acct-1', backwards => true);
SELECT stream_id, stream_version, data FROM es.read_all();
SELECT stream_id, stream_version, data FROM es.poll('sub');
SELECT es.fold('acct-1', 'counting');
SELECT stream_id, es.fold_agg(e, 'counting' ORDER BY stream_version)
FROM es.events e GROUP BY stream_id ORDER BY stream_id;
-- back-fill of a new projection, then a rebuild
SELECT es.create_projection('p', 'handler(es.events)', tables => ARRAY['seen']::regclass[]);
SELECT count(*), count(*) FILTER (WHERE up) AS upcast FROM seen;
SELECT es.rebuild_projection('p');
SELECT count(*), count(*) FILTER (WHERE up) AS upcast FROM seen;
-- an inline handler on append
SELECT es.append('acct-2', 2, es.event('Old', '{"i": 6}', schema_version => 1));
SELECT count(*), count(*) FILTER (WHERE up) AS upcast FROM seen;
-- an async run
SELECT es.create_projection('a', 'async_handler(es.events)', async => true,
                            tables => ARRAY['async_seen']::regclass[]);
SELECT es.run_projections();
SELECT count(*), count(*) FILTER (WHERE up) AS upcast FROM async_seen;
SELECT error_sqlstate FROM es.projections WHERE name = 'a';

-- User code that lets the refusal through: a clean error, and the
-- transaction goes on.
BEGIN;
UPDATE mode SET m = 'all';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('acct-1')$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_all()$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.poll('sub')$$);
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('p')$$);
SELECT pg_temp.outcome($$SELECT es.create_projection('p2', 'handler(es.events)')$$);
-- folds read without a cursor: nothing to refuse
SELECT pg_temp.outcome($$SELECT es.fold('acct-1', 'counting')$$);
SELECT pg_temp.outcome($$SELECT es.fold_agg(e, 'counting' ORDER BY stream_version) FROM es.events e$$);
UPDATE mode SET m = 'name';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('acct-1')$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_all()$$);
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('p')$$);
-- no cursor of the extension is left open
SELECT count(*) FROM pg_catalog.pg_cursors;
SELECT count(*) FROM seen;
UPDATE mode SET m = 'tame';
COMMIT;

-- An async run records the refusal as the projection's error and goes on.
SELECT es.append('acct-3', 0, es.event('Old', '{"i": 7}', schema_version => 1),
                              es.event('Old', '{"i": 8}', schema_version => 1));
UPDATE mode SET m = 'name';
SET client_min_messages = error;  -- the warning names the portal
SELECT es.run_projections();
RESET client_min_messages;
SELECT error_sqlstate, regexp_replace(error_message, '[0-9]+', 'N') AS error_message,
       events_behind FROM es.projections WHERE name = 'a';
UPDATE mode SET m = 'tame';
SELECT es.run_projections();
SELECT error_sqlstate, events_behind FROM es.projections WHERE name = 'a';
SELECT count(*), count(*) FILTER (WHERE up) AS upcast FROM async_seen;

-- A FETCH or MOVE that user code runs on the extension's cursor is an
-- error (24000) at the extension's next fetch, never a read that skips
-- events: 1,100 events are more than one batch.
CREATE TABLE long_seen (global_position bigint PRIMARY KEY);
CREATE FUNCTION long_handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
    INSERT INTO app.long_seen VALUES (e.global_position);
END $$;
SELECT es.append('long-1', NULL, VARIADIC (SELECT array_agg(es.event('Old', jsonb_build_object('i', i), schema_version => 1))
                                           FROM generate_series(1, 1100) i));
CREATE FUNCTION moving_handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile();
END $$;
SELECT es.drop_projection('p');
SELECT es.create_projection('long', 'long_handler(es.events)', tables => ARRAY['long_seen']::regclass[]);
-- polls only what no upcaster touches: the 'Old' events are read and
-- passed over, their upcaster runs
SELECT es.create_subscription('new', event_types => ARRAY['New']);
UPDATE mode SET m = 'move';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('long-1')$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_all(0, 5000)$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.poll('new', 5)$$);
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('long')$$);
UPDATE mode SET m = 'fetch';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('long-1', backwards => true)$$);
SELECT pg_temp.outcome($$SELECT es.create_projection('long2', 'moving_handler(es.events)')$$);
UPDATE mode SET m = 'tame';
SELECT count(*) FROM es.read_stream('long-1');
SELECT es.rebuild_projection('long');
SELECT count(*) FROM es.poll('new', 5);
