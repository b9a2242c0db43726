-- User code that runs between the rows of a cursor the extension reads
-- through (an upcaster function in read_stream, read_all and poll; a
-- projection handler in a back-fill, a rebuild and an async run) cannot
-- free that cursor nor make the read skip events:
--  - CLOSE ALL, or a CLOSE of that cursor by name, fails (24000: the cursor
--    is pinned) and the read goes on if the user code catches the error;
--    upcasters run as a security-restricted operation, where PostgreSQL
--    refuses CLOSE altogether (42501);
--  - a FETCH or MOVE on that cursor fails the read at its next batch
--    (24000) instead of making it skip the rows it moved over.
-- Folds read without a cursor: a reducer finds nothing to close.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE SCHEMA app;
SET search_path = app, public;

-- Closes every cursor it can: CLOSE ALL, then each cursor of pg_cursors by
-- name; catches the refusals.
CREATE FUNCTION close_everything() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    BEGIN
        EXECUTE 'CLOSE ALL';
    EXCEPTION WHEN invalid_cursor_state OR insufficient_privilege THEN
        NULL;
    END;
    FOR r IN SELECT name FROM pg_catalog.pg_cursors LOOP
        BEGIN
            EXECUTE format('CLOSE %I', r.name);
        EXCEPTION WHEN invalid_cursor_state OR invalid_cursor_name OR insufficient_privilege THEN
            NULL;
        END;
    END LOOP;
END $$;
-- Runs a command on every cursor the extension reads events through,
-- letting errors through.
CREATE FUNCTION on_cursors(command text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT name FROM pg_catalog.pg_cursors
             WHERE statement LIKE '%FROM es.events%'
               AND statement NOT LIKE '%pg_cursors%' LOOP
        EXECUTE format(command, r.name);
    END LOOP;
END $$;
-- How each kind of user code behaves: 'tame' (closes what it can,
-- catching the refusals), 'close all' (lets the refusal through), 'close'
-- (closes the extension's cursors by name), 'move' or 'fetch' (moves
-- them).
CREATE TABLE mode (who text PRIMARY KEY, m text NOT NULL);
INSERT INTO mode VALUES ('upcaster', 'tame'), ('handler', 'tame'), ('reducer', 'tame');
CREATE FUNCTION hostile(caller text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CASE (SELECT m FROM app.mode WHERE who = caller)
        WHEN 'tame' THEN PERFORM app.close_everything();
        WHEN 'close all' THEN EXECUTE 'CLOSE ALL';
        WHEN 'close' THEN PERFORM app.on_cursors('CLOSE %I');
        WHEN 'move' THEN PERFORM app.on_cursors('MOVE FORWARD ALL IN %I');
        WHEN 'fetch' THEN PERFORM app.on_cursors('FETCH 1 FROM %I');
    END CASE;
END $$;
-- The SQLSTATE and message of a failing statement, or 'ok' (the cursor's
-- number in a message depends on what ran before).
CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(pg_temp.try(sql), '<unnamed portal [0-9]+>', '<unnamed portal N>')
$$;

-- An upcaster function, handlers and a reducer that do that.
CREATE FUNCTION up(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile('upcaster');
    RETURN d || '{"up": true}';
END $$;
CREATE TABLE seen (global_position bigint PRIMARY KEY, up boolean);
CREATE FUNCTION handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile('handler');
    INSERT INTO app.seen VALUES (e.global_position, (e.data->>'up')::boolean);
END $$;
CREATE TABLE async_seen (LIKE seen);
CREATE FUNCTION async_handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile('handler');
    INSERT INTO app.async_seen VALUES (e.global_position, (e.data->>'up')::boolean);
END $$;
CREATE FUNCTION idle_handler(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile('handler');
END $$;
CREATE FUNCTION apply(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM app.hostile('reducer');
    RETURN jsonb_build_object('n', coalesce((s->>'n')::int, 0) + 1,
                              'up', coalesce((s->>'up')::int, 0) + coalesce((e.data->>'up')::boolean::int, 0));
END $$;

SELECT es.create_upcaster('Old', 1, fn => 'up(jsonb)') AS registered;
SELECT es.create_reducer('counting', apply => 'apply(jsonb, es.events)');
SELECT es.create_subscription('sub');
-- three events in one stream, two more in another
SELECT es.append('acct-1', 0, es.event('Old', '{"i": 1}', schema_version => 1),
                              es.event('Old', '{"i": 2}', schema_version => 1),
                              es.event('Old', '{"i": 3}', schema_version => 1));
SELECT es.append('acct-2', 0, es.event('Old', '{"i": 4}', schema_version => 1),
                              es.event('New', '{"i": 5}'));

-- User code that catches the refusals: every read is whole.
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
UPDATE mode SET m = 'close all' WHERE who = 'handler';
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('p')$$);
SELECT pg_temp.outcome($$SELECT es.create_projection('p2', 'idle_handler(es.events)')$$);
UPDATE mode SET m = 'close' WHERE who = 'handler';
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('p')$$);
SELECT pg_temp.outcome($$SELECT es.create_projection('p2', 'idle_handler(es.events)')$$);
-- an upcaster may not close cursors at all
UPDATE mode SET m = 'close all' WHERE who = 'upcaster';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('acct-1')$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_all()$$);
SELECT pg_temp.outcome($$SELECT count(*) FROM es.poll('sub')$$);
-- a reducer finds no cursor of the extension to close or move
UPDATE mode SET m = 'move' WHERE who = 'reducer';
UPDATE mode SET m = 'tame' WHERE who = 'upcaster';
SELECT pg_temp.outcome($$SELECT es.fold('acct-1', 'counting')$$);
SELECT pg_temp.outcome($$SELECT es.fold_agg(e, 'counting' ORDER BY stream_version) FROM es.events e$$);
-- no cursor of the extension is left open
SELECT count(*) FROM pg_catalog.pg_cursors;
SELECT count(*) FROM seen;
UPDATE mode SET m = 'tame';
COMMIT;

-- An async run records the refusal as the projection's error and goes on.
SELECT es.append('acct-3', 0, es.event('Old', '{"i": 7}', schema_version => 1),
                              es.event('Old', '{"i": 8}', schema_version => 1));
UPDATE mode SET m = 'close' WHERE who = 'handler';
SET client_min_messages = error;  -- the warning names the cursor
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
    PERFORM app.hostile('handler');
    INSERT INTO app.long_seen VALUES (e.global_position);
END $$;
SELECT es.append('long-1', NULL, VARIADIC (SELECT array_agg(es.event('Old', jsonb_build_object('i', i), schema_version => 1))
                                           FROM generate_series(1, 1100) i));
SELECT es.drop_projection('p');
SELECT es.create_projection('long', 'long_handler(es.events)', tables => ARRAY['long_seen']::regclass[]);
UPDATE mode SET m = 'move' WHERE who = 'upcaster';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('long-1')$$);
-- (es.poll reads the log as es.read_all does)
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_all(0, 5000)$$);
UPDATE mode SET m = 'fetch' WHERE who = 'upcaster';
SELECT pg_temp.outcome($$SELECT count(*) FROM es.read_stream('long-1', backwards => true)$$);
UPDATE mode SET m = 'tame' WHERE who = 'upcaster';
UPDATE mode SET m = 'move' WHERE who = 'handler';
SELECT pg_temp.outcome($$SELECT es.rebuild_projection('long')$$);
UPDATE mode SET m = 'fetch' WHERE who = 'handler';
SELECT pg_temp.outcome($$SELECT es.create_projection('long2', 'idle_handler(es.events)')$$);
UPDATE mode SET m = 'tame';
SELECT count(*) FROM es.read_stream('long-1');
SELECT es.rebuild_projection('long');
