-- Async projections: read models caught up from the gap-safe log by
-- es.run_projections, their position committed with the handler's writes.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

CREATE SCHEMA app;
SET search_path = app, public;
-- The same read model twice: one maintained inline, one async.
CREATE TABLE inline_totals (account text PRIMARY KEY, balance numeric NOT NULL, events int NOT NULL);
CREATE TABLE async_totals (LIKE inline_totals INCLUDING ALL);
CREATE TABLE fragile_seen (global_position bigint PRIMARY KEY);
CREATE FUNCTION on_inline(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO inline_totals AS b VALUES (e.stream_id, (e.data->>'amount')::numeric, 1)
    ON CONFLICT (account) DO UPDATE
        SET balance = b.balance + excluded.balance, events = b.events + 1;
END $$;
CREATE FUNCTION on_async(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO async_totals AS b VALUES (e.stream_id, (e.data->>'amount')::numeric, 1)
    ON CONFLICT (account) DO UPDATE
        SET balance = b.balance + excluded.balance, events = b.events + 1;
END $$;
-- fails on events that ask for it
CREATE FUNCTION on_fragile(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.data ? 'fail' THEN
        RAISE EXCEPTION 'fragile handler refused %/%', e.stream_id, e.stream_version
            USING ERRCODE = '22012';
    END IF;
    INSERT INTO fragile_seen VALUES (e.global_position);
END $$;
CREATE VIEW differences AS
    (SELECT 'inline only' AS side, * FROM inline_totals EXCEPT SELECT 'inline only', * FROM async_totals)
    UNION ALL
    (SELECT 'async only', * FROM async_totals EXCEPT SELECT 'async only', * FROM inline_totals);

-- An old event type that upcasting renames: the filter matches the
-- upcast type, as inline projections do.
SELECT es.create_upcaster('OldDeposit', 1, '[{"op": "rename_type", "value": "Deposited"}]');

-- History before the projections exist.
SELECT es.append('acct-1', 0, es.event('Deposited', '{"amount": 10}'));
SELECT es.append('acct-2', 0, es.event('OldDeposit', '{"amount": 5}', schema_version => 1),
                              es.event('Noted', '{"amount": 1000}'));
SELECT es.create_projection('inline', 'on_inline(es.events)',
                            event_types => ARRAY['Deposited', 'Withdrawn'],
                            tables => ARRAY['inline_totals']::regclass[]);
-- An async projection starts at the beginning of the log: nothing applied
-- at creation, the history is applied by the runs that follow.
SELECT es.create_projection('totals', 'on_async(es.events)',
                            event_types => ARRAY['Deposited', 'Withdrawn'],
                            async => true,
                            tables => ARRAY['async_totals']::regclass[]);
SELECT count(*) AS async_rows FROM async_totals;
SELECT name, mode, position, events_behind, oldest_unapplied_age IS NOT NULL AS waiting,
       applied_at, error_position, error_event_id, error_sqlstate, error_message, error_at
FROM es.projections ORDER BY name;

-- Appends do not run async handlers.
SELECT es.append('acct-1', 1, es.event('Withdrawn', '{"amount": -3}'));
SELECT es.append('acct-3', 0, es.event('Deposited', '{"amount": 7}'));
SELECT count(*) AS async_rows FROM async_totals;

-- max_count bounds the events applied per projection; the position moves
-- to the last event applied.
SELECT es.run_projections(2);
SELECT * FROM async_totals ORDER BY account;
SELECT name, position, events_behind, applied_at IS NOT NULL AS applied FROM es.projections
WHERE mode = 'async';
SELECT es.run_projections();
SELECT * FROM differences;
-- caught up: the position is the log's end, nothing behind, nothing to do
SELECT position = (SELECT max(global_position) FROM es.events) AS at_end,
       events_behind, oldest_unapplied_age
FROM es.projections WHERE name = 'totals';
SELECT es.run_projections();

-- The position commits with the handler's writes: a rolled-back run
-- leaves both unchanged, and the next run applies the events again.
SELECT es.append('acct-1', 2, es.event('Deposited', '{"amount": 1.5}'));
BEGIN;
SELECT es.run_projections();
SELECT balance FROM async_totals WHERE account = 'acct-1';
ROLLBACK;
SELECT balance FROM async_totals WHERE account = 'acct-1';
SELECT events_behind FROM es.projections WHERE name = 'totals';
SELECT es.run_projections();
SELECT * FROM differences;

-- A run sees events appended earlier in its own transaction once they
-- are committed, never before (the log's horizon is below them).
BEGIN;
SELECT es.append('acct-4', 0, es.event('Deposited', '{"amount": 4}'));
SELECT es.run_projections();
COMMIT;
SELECT es.run_projections();
SELECT * FROM differences;

-- A failing handler stops only its projection, exactly at the failing
-- event; the error is in the view; the other projections go on.
SELECT es.create_projection('fragile', 'on_fragile(es.events)', async => true,
                            tables => ARRAY['fragile_seen']::regclass[]);
SELECT es.append('acct-5', 0, es.event('Deposited', '{"amount": 1}'),
                              es.event('Deposited', '{"amount": 2, "fail": true}'),
                              es.event('Deposited', '{"amount": 3}'));
SELECT es.run_projections();
SELECT * FROM differences;
SELECT name, position = (SELECT global_position FROM es.events
                         WHERE stream_id = 'acct-5' AND stream_version = 2) - 1 AS before_failing,
       events_behind,
       error_position = (SELECT global_position FROM es.events
                         WHERE stream_id = 'acct-5' AND stream_version = 2) AS at_failing,
       error_event_id = (SELECT event_id FROM es.events
                         WHERE stream_id = 'acct-5' AND stream_version = 2) AS failing_id,
       error_sqlstate, error_message, error_at IS NOT NULL AS error_at
FROM es.projections WHERE mode = 'async' ORDER BY name;
-- every event before the failing one was applied, none after it
SELECT (SELECT count(*) FROM fragile_seen) =
       (SELECT count(*) FROM es.events WHERE global_position <
           (SELECT global_position FROM es.events WHERE stream_id = 'acct-5' AND stream_version = 2))
       AS applied_up_to_failing;
-- retried on every run, still failing
SELECT es.run_projections();
SELECT error_sqlstate FROM es.projections WHERE name = 'fragile';
-- fixed: the next run resumes at the failing event and clears the error
CREATE OR REPLACE FUNCTION on_fragile(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO fragile_seen VALUES (e.global_position);
END $$;
SELECT es.run_projections();
SELECT (SELECT count(*) FROM fragile_seen) = (SELECT count(*) FROM es.events) AS all_applied;
SELECT name, events_behind, error_position, error_event_id, error_sqlstate, error_message, error_at
FROM es.projections WHERE mode = 'async' ORDER BY name;

-- A handler that fails on an event after max_count others: nothing is
-- lost or applied twice.
CREATE OR REPLACE FUNCTION on_fragile(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.data ? 'fail' THEN
        RAISE EXCEPTION 'fragile handler refused %/%', e.stream_id, e.stream_version;
    END IF;
    INSERT INTO fragile_seen VALUES (e.global_position);
END $$;
SELECT es.append('acct-6', 0, es.event('Deposited', '{"amount": 1}'),
                              es.event('Deposited', '{"amount": 1}'),
                              es.event('Deposited', '{"amount": 1}'),
                              es.event('Deposited', '{"amount": 1, "fail": true}'));
SELECT es.run_projections(2);       -- 2 for each projection, the failure not reached
SELECT es.run_projections(2);       -- totals: 2; fragile: 1, then the failing event
SELECT name, events_behind, error_sqlstate FROM es.projections WHERE mode = 'async' ORDER BY name;
SELECT es.drop_projection('fragile');

-- Rebuild restarts an async projection from the beginning of the log:
-- its tables are emptied at once and refilled by the next runs.
SELECT es.rebuild_projection('totals');
SELECT count(*) AS async_rows FROM async_totals;
SELECT position, events_behind > 0 AS behind FROM es.projections WHERE name = 'totals';
SELECT es.run_projections() > 0 AS applied;
SELECT * FROM differences;

-- Drop: the projection is no longer run; its tables stay.
SELECT es.drop_projection('totals');
SELECT es.append('acct-1', NULL, es.event('Deposited', '{"amount": 100}'));
SELECT es.run_projections();
SELECT count(*) AS async_rows FROM async_totals;

-- A run applies only the projections of roles the caller is a member of.
CREATE ROLE es_async_alice;
CREATE ROLE es_async_bob;
GRANT USAGE ON SCHEMA app TO es_async_alice, es_async_bob;
ALTER TABLE async_totals OWNER TO es_async_alice;   -- a projection's tables are its owner's
GRANT EXECUTE ON FUNCTION es.create_projection(text, regprocedure, text[], boolean, regclass[]),
                          es.run_projections(integer), es.drop_projection(text)
    TO es_async_alice, es_async_bob;
TRUNCATE async_totals;
SET ROLE es_async_alice;
SELECT es.create_projection('alice', 'on_async(es.events)', async => true,
                            event_types => ARRAY['Deposited', 'Withdrawn'],
                            tables => ARRAY['async_totals']::regclass[]);
SET ROLE es_async_bob;
SELECT es.run_projections();
SET ROLE es_async_alice;
SELECT es.run_projections() > 0 AS applied;
SELECT es.drop_projection('alice');
RESET ROLE;
SELECT * FROM differences;

-- Validation.
SELECT pg_temp.try($$SELECT es.run_projections(NULL)$$);
SELECT pg_temp.try($$SELECT es.run_projections(0)$$);
SELECT pg_temp.try($$SELECT es.run_projections(-1)$$);
SELECT pg_temp.try($$SELECT es.create_projection('p', 'on_async(es.events)', async => NULL)$$);

SET client_min_messages = warning;
DROP SCHEMA app CASCADE;
DROP OWNED BY es_async_alice, es_async_bob;
DROP ROLE es_async_alice;
DROP ROLE es_async_bob;
RESET search_path;
