-- Projections: read models kept current by handlers that run inside the
-- appending transaction, back-filled on creation, rebuilt from history.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

-- A read model and its handler; the handler names its table unqualified
-- (it runs with the caller's search_path).
CREATE SCHEMA app;
SET search_path = app, public;
CREATE TABLE balances (account text PRIMARY KEY, balance numeric NOT NULL, events int NOT NULL);
CREATE FUNCTION on_event(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.data ? 'fail' THEN
        RAISE EXCEPTION 'handler refused % %', e.stream_id, e.stream_version
            USING ERRCODE = 'P0001', DETAIL = 'The event asked for it.';
    END IF;
    INSERT INTO balances AS b VALUES (e.stream_id, (e.data->>'amount')::numeric, 1)
    ON CONFLICT (account) DO UPDATE
        SET balance = b.balance + excluded.balance, events = b.events + 1;
END $$;

-- History that exists before the projection: back-filled on creation.
SELECT es.append('acct-1', 0, es.event('Deposited', '{"amount": 10}'));
SELECT es.append('acct-2', 0, es.event('Deposited', '{"amount": 5}'),
                              es.event('Noted', '{"amount": 1000}'));
BEGIN;
SELECT es.create_projection('balances', 'on_event(es.events)',
                            event_types => ARRAY['Deposited', 'Withdrawn'],
                            tables => ARRAY['balances']::regclass[]);
-- back-filled inside the creating transaction; 'Noted' is filtered out
SELECT * FROM balances ORDER BY account;
ROLLBACK;
SELECT * FROM balances ORDER BY account;           -- nothing: rolled back
SELECT count(*) FROM es.projections;

SELECT es.create_projection('balances', 'on_event(es.events)',
                            event_types => ARRAY['Deposited', 'Withdrawn'],
                            tables => ARRAY['balances']::regclass[]);
SELECT name, handler, event_types, mode, tables, owner FROM es.projections;
SELECT * FROM balances ORDER BY account;

-- The read model is current inside the appending transaction.
BEGIN;
SELECT es.append('acct-1', 1, es.event('Deposited', '{"amount": 2.5}'));
SELECT * FROM balances WHERE account = 'acct-1';
COMMIT;

-- A rolled-back append leaves no trace, in the events or the read model.
BEGIN;
SELECT es.append('acct-1', 2, es.event('Deposited', '{"amount": 100}'));
ROLLBACK;
SELECT * FROM balances WHERE account = 'acct-1';
SELECT es.stream_version('acct-1');

-- A raising handler fails the append with its own SQLSTATE and message,
-- and nothing is stored: no event, no read-model update.
SELECT pg_temp.try($$SELECT es.append('acct-1', 2, es.event('Deposited', '{"amount": 1}'),
                                                   es.event('Deposited', '{"amount": 1, "fail": true}'))$$);
SELECT es.stream_version('acct-1');
SELECT * FROM balances WHERE account = 'acct-1';
-- the error's context names the projection and the event
DO $$
DECLARE ctx text;
BEGIN
    PERFORM es.append('acct-1', 2, es.event('Deposited', '{"fail": true}'));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS ctx = PG_EXCEPTION_CONTEXT;
    RAISE NOTICE '%', substring(ctx from 'projection "[^\n]*');
END $$;

-- The type filter applies to the (upcast) event type before the handler:
-- an event the handler would refuse is never passed to it.
SELECT es.append('acct-1', 2, es.event('Noted', '{"fail": true}'));
SELECT * FROM balances WHERE account = 'acct-1';

-- Rebuild: empties the tables, replays the whole history in global
-- order (events appended before the projection existed included), and
-- ends where the incremental read model was.
SELECT es.append('acct-3', NULL, es.event('Deposited', '{"amount": 7}'),
                                 es.event('Withdrawn', '{"amount": -3}'));
CREATE TABLE incremental AS SELECT * FROM balances;
UPDATE balances SET balance = -1;                  -- damage the read model
SELECT es.rebuild_projection('balances');
SELECT (SELECT count(*) FROM balances) AS rows,
       (SELECT count(*) FROM (SELECT * FROM balances EXCEPT SELECT * FROM incremental) d) AS differ;
SELECT * FROM balances ORDER BY account;

-- A handler that sees every event type, and records the global order it
-- saw events in: rebuild replays them in global_position order.
CREATE TABLE seen (n bigserial, global_position bigint, event_type text);
CREATE FUNCTION see(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO seen (global_position, event_type) VALUES (e.global_position, e.event_type) $$;
SELECT es.create_projection('seen', 'see(es.events)', tables => '{seen}');
SELECT count(*) AS seen, bool_and(ok) AS in_order
FROM (SELECT global_position > lag(global_position, 1, 0::bigint) OVER (ORDER BY n) AS ok FROM seen) s;
SELECT es.rebuild_projection('seen');
SELECT count(*) AS seen, bool_and(ok) AS in_order
FROM (SELECT global_position > lag(global_position, 1, 0::bigint) OVER (ORDER BY n) AS ok FROM seen) s;
-- both projections see the next event
SELECT es.append('acct-4', 0, es.event('Deposited', '{"amount": 1}'));
SELECT (SELECT balance FROM balances WHERE account = 'acct-4') AS balance,
       (SELECT event_type FROM seen ORDER BY n DESC LIMIT 1) AS last_seen;
-- handlers run in the order of the projections' names
CREATE TABLE calls (n serial, projection text);
CREATE FUNCTION call_b(e es.events) RETURNS void LANGUAGE sql AS $$ INSERT INTO calls (projection) VALUES ('b') $$;
CREATE FUNCTION call_a(e es.events) RETURNS void LANGUAGE sql AS $$ INSERT INTO calls (projection) VALUES ('a') $$;
SELECT es.create_projection('order-b', 'call_b(es.events)', event_types => '{Ordered}');
SELECT es.create_projection('order-a', 'call_a(es.events)', event_types => '{Ordered}');
SELECT es.append('ordered', NULL, es.event('Ordered', '{}'), es.event('Ordered', '{}'));
SELECT string_agg(projection, ' ' ORDER BY n) AS calls FROM calls;
SELECT es.drop_projection('order-a'), es.drop_projection('order-b');

-- Several appends in one statement, one transaction: each event once.
SELECT es.append('acct-5', NULL, es.event('Deposited', '{"amount": 1}'))
FROM generate_series(1, 3);
SELECT * FROM balances WHERE account = 'acct-5';

-- A large event (stored out of line, TOAST) reaches the handler whole,
-- inline and in a rebuild.
CREATE TABLE sizes (stream_id text PRIMARY KEY, bytes int);
CREATE FUNCTION measure(e es.events) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO sizes VALUES (e.stream_id, length(e.data->>'blob')) $$;
SELECT es.create_projection('sizes', 'measure(es.events)', event_types => '{Big}', tables => '{sizes}');
SELECT es.append('big-1', 0, es.event('Big', jsonb_build_object('blob',
    (SELECT string_agg(md5(i::text), '') FROM generate_series(1, 20000) i))));
SELECT * FROM sizes;
SELECT es.rebuild_projection('sizes');
SELECT * FROM sizes;
SELECT es.drop_projection('sizes');

-- Drop: the projection stops, its tables stay.
SELECT es.drop_projection('seen');
SELECT es.append('acct-5', NULL, es.event('Deposited', '{"amount": 1}'));
SELECT count(*) AS seen_rows, (SELECT count(*) FROM es.events) AS events FROM seen;
SELECT name FROM es.projections;

-- A replaced handler is picked up by the next append (no stale cache).
CREATE OR REPLACE FUNCTION on_event(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE balances SET events = events + 100 WHERE account = e.stream_id;
END $$;
SELECT es.append('acct-5', NULL, es.event('Deposited', '{"amount": 1}'));
SELECT * FROM balances WHERE account = 'acct-5';
-- A dropped handler makes appends of its types fail, not skip silently.
DROP FUNCTION on_event(es.events);
SELECT pg_temp.try($$SELECT es.append('acct-5', NULL, es.event('Deposited', '{"amount": 1}'))$$);
SELECT es.append('acct-5', NULL, es.event('Noted', '{}'));       -- other types go on
SELECT pg_temp.try($$SELECT es.rebuild_projection('balances')$$);
-- created again under the same signature, it is found again
CREATE FUNCTION on_event(e es.events) RETURNS void LANGUAGE sql
    AS $$ UPDATE balances SET events = events + 1000 WHERE account = e.stream_id $$;
SELECT es.append('acct-5', NULL, es.event('Deposited', '{"amount": 1}'));
SELECT * FROM balances WHERE account = 'acct-5';
SELECT es.drop_projection('balances');

-- Validation: precise errors, nothing registered.
CREATE FUNCTION two_args(e es.events, x int) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION wrong_arg(e jsonb) RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION no_args() RETURNS void LANGUAGE sql AS 'SELECT';
CREATE FUNCTION returns_int(e es.events) RETURNS int LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION returns_set(e es.events) RETURNS SETOF void LANGUAGE sql AS 'SELECT';
CREATE PROCEDURE a_procedure(e es.events) LANGUAGE sql AS 'SELECT';
CREATE AGGREGATE an_aggregate(es.events) (SFUNC = array_append, STYPE = es.events[]);
CREATE VIEW a_view AS SELECT 1 AS x;
CREATE TEMP TABLE a_temp (x int);
CREATE FUNCTION ok(e es.events) RETURNS void LANGUAGE sql AS 'SELECT';
SELECT pg_temp.try($$SELECT es.create_projection('p', 'two_args(es.events, int)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'wrong_arg(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'no_args()')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'returns_int(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'returns_set(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'a_procedure(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'an_aggregate(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'missing(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 123456::regprocedure)$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', NULL)$$);
SELECT pg_temp.try($$SELECT es.create_projection(NULL, 'ok(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('', 'ok(es.events)')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', event_types => '{}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', event_types => ARRAY['A', NULL])$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', event_types => ARRAY['A', ''])$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', event_types => '{{A},{B}}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', async => NULL)$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => '{missing}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => '{a_view}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => '{a_temp}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => '{seen, seen}')$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => ARRAY['seen', NULL]::regclass[])$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)', tables => ARRAY[999999::oid::regclass])$$);
SELECT count(*) FROM es.projections;
SELECT es.create_projection('p', 'ok(es.events)');
SELECT pg_temp.try($$SELECT es.create_projection('p', 'ok(es.events)')$$);
-- a projection without tables has nothing a rebuild could empty
SELECT pg_temp.try($$SELECT es.rebuild_projection('p')$$);
SELECT pg_temp.try($$SELECT es.rebuild_projection('nope')$$);
SELECT pg_temp.try($$SELECT es.drop_projection('nope')$$);
SELECT pg_temp.try($$SELECT es.drop_projection(NULL)$$);
SELECT pg_temp.try($$SELECT es.rebuild_projection('')$$);
SELECT es.drop_projection('p');

-- A table dropped after registration: the rebuild says so.
CREATE TABLE gone (x int);
SELECT es.create_projection('q', 'ok(es.events)', tables => '{gone}');
DROP TABLE gone;
SELECT pg_temp.try($$SELECT es.rebuild_projection('q')$$) ~ '^42P01: table with OID \d+ of projection "q" does not exist$' AS ok;
SELECT es.drop_projection('q');

-- Only rows es.append writes reach handlers: a superuser's direct INSERT
-- (like pg_restore's COPY) does not.
CREATE TABLE counted (n int);
INSERT INTO counted VALUES (0);
CREATE FUNCTION count_it(e es.events) RETURNS void LANGUAGE sql AS 'UPDATE counted SET n = n + 1';
SELECT es.create_projection('counter', 'count_it(es.events)', tables => '{counted}');
SELECT n AS back_filled FROM counted;
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data)
VALUES ('direct-0', 1, es.uuid_v7(), 'Inserted', '{}');
SELECT n AS after_direct_insert FROM counted;
SELECT es.append('direct-1', NULL, es.event('Appended', '{}'));
SELECT n AS after_append FROM counted;
-- A handler that appends: its events reach the projections too; a handler
-- that inserts rows directly does not feed them back.
CREATE FUNCTION chain(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.event_type = 'Ping' THEN
        PERFORM es.append('pong-' || e.stream_id, NULL, es.event('Pong', '{}'));
        INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data)
        VALUES ('raw-' || e.stream_id, 1, es.uuid_v7(), 'Raw', '{}');
    END IF;
END $$;
SELECT es.create_projection('chain', 'chain(es.events)', event_types => '{Ping}');
SELECT es.append('x', 0, es.event('Ping', '{}'));
SELECT n AS after_ping FROM counted;              -- Ping and Pong, not Raw
SELECT es.drop_projection('chain');
SELECT es.drop_projection('counter');
SELECT count(*) FROM es.projections;
RESET search_path;
