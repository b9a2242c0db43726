-- es.fold with function reducers; snapshots; as_of; es.fold_agg
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';

-- A reducer in SQL: the account balance, in exact numeric arithmetic.
CREATE FUNCTION balance(state jsonb, event es.events) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT CASE event.event_type
        WHEN 'Opened' THEN jsonb_build_object('owner', event.data->'owner', 'balance', 0)
        WHEN 'Deposited' THEN jsonb_set(state, '{balance}',
            to_jsonb(coalesce((state->>'balance')::numeric, 0) + (event.data->>'amount')::numeric))
        WHEN 'Withdrawn' THEN jsonb_set(state, '{balance}',
            to_jsonb(coalesce((state->>'balance')::numeric, 0) - (event.data->>'amount')::numeric))
        ELSE state END
        || jsonb_build_object('version', event.stream_version)
$$;
-- The same in PL/pgSQL, counting its calls in a sequence.
CREATE SEQUENCE reducer_calls;
CREATE FUNCTION balance_plpgsql(state jsonb, event es.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('reducer_calls');
    IF event.event_type = 'Boom' THEN
        RAISE EXCEPTION 'cannot fold %', event.data->>'why' USING ERRCODE = 'data_exception';
    END IF;
    RETURN balance(state, event);
END $$;

SELECT es.create_reducer('balance', '{"balance": null}', 'balance(jsonb, es.events)');
SELECT es.create_reducer('balance_pl', '{}', 'balance_plpgsql'::regproc, snapshot_every => 3);
SELECT name, kind, initial_state, apply, rules, snapshot_every, owner, revision FROM es.reducers ORDER BY name;

SELECT es.append('acct-1', 0,
    es.event('Opened', '{"owner": "Ada"}', occurred_at => '2024-01-01 10:00+00'),
    es.event('Deposited', '{"amount": "0.1"}', occurred_at => '2024-01-02 10:00+00'),
    es.event('Deposited', '{"amount": "0.2"}', occurred_at => '2024-01-03 10:00+00'),
    es.event('Withdrawn', '{"amount": "0.05"}', occurred_at => '2024-01-04 10:00+00'));
-- a back-dated correction, recorded later but occurring on January 2nd
SELECT es.append('acct-1', 4,
    es.event('Deposited', '{"amount": "100"}', occurred_at => '2024-01-02 12:00+00'));

-- Folds in version order; both reducers agree; 0.1 + 0.2 - 0.05 + 100 is exact.
SELECT es.fold('acct-1', 'balance'), es.fold('acct-1', 'balance_pl');
-- to_version bounds the fold; 0 gives the initial state; beyond the end is the end
SELECT v, es.fold('acct-1', 'balance', to_version => v)
FROM (VALUES (0), (1), (3), (5), (99)) t(v);
-- as_of: before the first event, exactly at an event's time, between events,
-- and the back-dated event counting where its time says
SELECT t, es.fold('acct-1', 'balance', as_of => t)
FROM (VALUES (timestamptz '2023-12-31 00:00+00'), ('2024-01-01 10:00+00'),
             ('2024-01-02 11:00+00'), ('2024-01-02 12:00+00'), ('2024-01-03 10:00+00')) x(t);
-- both bounds apply
SELECT es.fold('acct-1', 'balance', as_of => '2024-01-03 10:00+00', to_version => 2);
-- no events: the initial state
SELECT es.fold('nobody', 'balance'), es.fold('nobody', 'balance_pl');

-- Snapshots: taken by folds every 3 events, and used.  A stream of 20
-- events, some back-dated, folded with and without snapshots at every
-- version and at many moments.
SELECT es.create_reducer('balance_nosnap', '{}', 'balance_plpgsql'::regproc);
SELECT es.append('acct-2', 0, es.event('Opened', '{"owner": "Bo"}', occurred_at => '2024-02-01 00:00+00'));
SELECT es.append('acct-2', NULL, VARIADIC (
    SELECT array_agg(es.event('Deposited', jsonb_build_object('amount', i),
        occurred_at => timestamptz '2024-02-01 00:00+00'
                       + make_interval(hours => CASE WHEN i % 4 = 0 THEN i - 7 ELSE i * 2 END))
        ORDER BY i)
    FROM generate_series(1, 19) i));
SELECT count(*) AS mismatches FROM (
    SELECT v FROM generate_series(0, 21) v
    WHERE es.fold('acct-2', 'balance_pl', to_version => v)
          IS DISTINCT FROM es.fold('acct-2', 'balance_nosnap', to_version => v)) x;
SELECT count(*) AS mismatches FROM (
    SELECT t FROM generate_series(timestamptz '2024-01-31 20:00+00', '2024-02-03 00:00+00', '1 hour') t
    WHERE es.fold('acct-2', 'balance_pl', as_of => t)
          IS DISTINCT FROM es.fold('acct-2', 'balance_nosnap', as_of => t)) x;
SELECT count(*) AS mismatches FROM (
    SELECT t, v FROM generate_series(timestamptz '2024-01-31 20:00+00', '2024-02-03 00:00+00', '5 hours') t,
                     generate_series(0, 20, 4) v
    WHERE es.fold('acct-2', 'balance_pl', as_of => t, to_version => v)
          IS DISTINCT FROM es.fold('acct-2', 'balance_nosnap', as_of => t, to_version => v)) x;
SELECT stream_version, state->>'balance' AS balance, last_occurred_at
FROM es.snapshots WHERE reducer = 'balance_pl' AND stream_id = 'acct-2' ORDER BY 1;
SELECT reducer, stream_id, snapshots, latest_version, stream_version, events_since, current
FROM es.snapshot_coverage ORDER BY 1, 2;
-- a fold from the latest snapshot (18) applies only the events after it
SELECT setval('reducer_calls', 1, false);
SELECT es.fold('acct-2', 'balance_pl')->>'balance' AS balance,
       nextval('reducer_calls') - 1 AS reducer_calls;
-- es.snapshot stores one at the current version, on demand
SELECT es.snapshot('acct-2', 'balance_pl'), es.snapshot('acct-1', 'balance');
SELECT setval('reducer_calls', 1, false);
SELECT es.fold('acct-2', 'balance_pl')->>'balance' AS balance,
       nextval('reducer_calls') - 1 AS reducer_calls;

-- Editing the reducer function retires its snapshots: the fold starts over
-- (and its own snapshot replaces the retired ones).
CREATE OR REPLACE FUNCTION balance_plpgsql(state jsonb, event es.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('reducer_calls');
    RETURN balance(state, event) || '{"edited": true}';
END $$;
SELECT reducer, stream_id, current FROM es.snapshot_coverage WHERE reducer = 'balance_pl';
SELECT setval('reducer_calls', 1, false);
SELECT es.fold('acct-2', 'balance_pl')->>'edited' AS edited,
       nextval('reducer_calls') - 1 AS reducer_calls;
SELECT reducer, stream_id, snapshots, latest_version, current
FROM es.snapshot_coverage WHERE reducer = 'balance_pl';
-- Re-creating the reducer retires its snapshots too.
SELECT es.create_reducer('balance_pl', '{"recreated": true}', 'balance_plpgsql'::regproc, snapshot_every => 5);
SELECT count(*) AS snapshots_left FROM es.snapshots WHERE reducer = 'balance_pl';
SELECT revision FROM es.reducers WHERE name = 'balance_pl';

-- A fold in a read-only transaction answers and stores nothing.
SELECT es.create_reducer('balance_snap', '{}', 'balance'::regproc, snapshot_every => 2);
BEGIN READ ONLY;
SELECT es.fold('acct-2', 'balance_snap')->>'balance' AS balance;
SELECT count(*) AS snapshots FROM es.snapshots WHERE reducer = 'balance_snap';
SELECT pg_temp.try($$SELECT es.snapshot('acct-2', 'balance_snap')$$);
ROLLBACK;
SELECT es.fold('acct-2', 'balance_snap')->>'balance' AS balance;
SELECT count(*) AS snapshots FROM es.snapshots WHERE reducer = 'balance_snap';

-- es.fold_agg: a fold per stream with GROUP BY.
SELECT stream_id, es.fold_agg(e, 'balance' ORDER BY stream_version)->>'balance' AS balance
FROM es.events e GROUP BY stream_id ORDER BY stream_id;
SELECT es.fold_agg(r, 'balance' ORDER BY stream_version) = es.fold('acct-1', 'balance') AS same
FROM es.read_stream('acct-1') r;
SELECT es.fold_agg(e, 'balance') FROM es.events e WHERE false;

-- Errors
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'nope')$$);
SELECT pg_temp.try($$SELECT es.fold('acct-1', NULL)$$);
SELECT pg_temp.try($$SELECT es.fold(NULL, 'balance')$$);
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'balance', to_version => -1)$$);
SELECT pg_temp.try($$SELECT es.fold_agg(e, 'nope') FROM es.events e$$);
-- a reducer that raises: its own SQLSTATE and message, and a context line
SELECT es.create_reducer('strict_pl', '{}', 'balance_plpgsql'::regproc);
CREATE OR REPLACE FUNCTION balance_plpgsql(state jsonb, event es.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF event.event_type = 'Withdrawn' THEN
        RAISE EXCEPTION 'cannot fold a withdrawal of %', event.data->>'amount'
            USING ERRCODE = 'data_exception';
    END IF;
    RETURN state;
END $$;
\set VERBOSITY default
SELECT es.fold('acct-1', 'strict_pl');
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'strict_pl')$$);
-- a reducer returning NULL
CREATE FUNCTION null_reducer(state jsonb, event es.events) RETURNS jsonb
LANGUAGE sql AS 'SELECT NULL::jsonb';
SELECT es.create_reducer('null_r', '{}', 'null_reducer'::regproc);
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'null_r')$$);
-- registration errors
CREATE FUNCTION wrong_args(state jsonb, event jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT state';
CREATE FUNCTION wrong_result(state jsonb, event es.events) RETURNS text LANGUAGE sql AS 'SELECT ''x''';
CREATE FUNCTION wrong_set(state jsonb, event es.events) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT state';
CREATE PROCEDURE wrong_kind(state jsonb, event es.events) LANGUAGE sql AS 'SELECT 1';
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'wrong_args'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'wrong_result'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'wrong_set'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'wrong_kind'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'balance'::regproc, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', NULL, 'balance'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer(NULL, '{}', 'balance'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('', '{}', 'balance'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer(repeat('r', 64), '{}', 'balance'::regproc)$$);
SELECT pg_temp.try($$SELECT es.create_reducer('r', '{}', 'balance'::regproc, snapshot_every => 0)$$);
SELECT pg_temp.try($$SELECT es.drop_reducer('nope')$$);
SELECT count(*) AS reducers_named_r FROM es.reducers WHERE name = 'r';
-- a dropped function
CREATE FUNCTION soon_gone(state jsonb, event es.events) RETURNS jsonb LANGUAGE sql AS 'SELECT state';
SELECT es.create_reducer('gone', '{}', 'soon_gone'::regproc);
DROP FUNCTION soon_gone(jsonb, es.events);
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'gone')$$);
SELECT es.drop_reducer('gone');

-- The reducer runs with the search_path captured when it was created, not
-- the caller's: app.label() is found only by a reducer created under a
-- search_path naming app.
CREATE SCHEMA app;
CREATE FUNCTION app.label() RETURNS text LANGUAGE sql AS $$ SELECT 'from app' $$;
CREATE FUNCTION labelled(state jsonb, event es.events) RETURNS jsonb
LANGUAGE plpgsql AS $$ BEGIN RETURN jsonb_build_object('label', label()); END $$;
SELECT es.create_reducer('labelled', '{}', 'labelled'::regproc);
SELECT settings[1] AS captured FROM es.reducers WHERE name = 'labelled';
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'labelled')$$);
SET search_path = app, public;
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'labelled')$$);
SELECT es.create_reducer('labelled', '{}', 'labelled'::regproc);
SELECT settings[1] AS captured FROM es.reducers WHERE name = 'labelled';
RESET search_path;
SELECT es.fold('acct-1', 'labelled');

-- Reducers belong to their creator; the function runs as the creator, who
-- needs EXECUTE on it (the caller does not).
SET client_min_messages = warning;
DROP ROLE IF EXISTS es_alice;
DROP ROLE IF EXISTS es_bob;
RESET client_min_messages;
CREATE ROLE es_alice;
CREATE ROLE es_bob;
CREATE FUNCTION whoami(state jsonb, event es.events) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('user', current_user::text) $$;
REVOKE EXECUTE ON FUNCTION whoami(jsonb, es.events) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION whoami(jsonb, es.events) TO es_alice;
SET ROLE es_alice;
SELECT es.create_reducer('alice_r', '{}', 'whoami'::regproc);
SELECT es.fold('acct-1', 'alice_r');
RESET ROLE;
SET ROLE es_bob;
SELECT es.fold('acct-1', 'alice_r'), current_user;
SELECT pg_temp.try($$SELECT es.create_reducer('alice_r', '{}', 'balance'::regproc)$$);
SELECT pg_temp.try($$SELECT es.drop_reducer('alice_r')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bob_r', '{}', 'whoami'::regproc)$$);
RESET ROLE;
-- a superuser folds it as es_alice too
SELECT es.fold('acct-1', 'alice_r');
SELECT es.drop_reducer('alice_r');
DROP FUNCTION whoami(jsonb, es.events);
DROP ROLE es_alice;
DROP ROLE es_bob;
