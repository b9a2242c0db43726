-- The identity rule for reducers: a function reducer runs as its registrant
-- (the reducer's owner) with the settings captured by es.create_reducer,
-- whoever folds; a rules reducer's output depends on no setting.  So fold
-- results and the snapshots they store are the same for every caller, and
-- no reducer runs with the caller's rights.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET client_min_messages = warning;
DROP ROLE IF EXISTS es_id_alice;
DROP ROLE IF EXISTS es_id_bob;
DROP ROLE IF EXISTS es_id_mallory;
DROP SCHEMA IF EXISTS es_id_evil CASCADE;
RESET client_min_messages;
CREATE ROLE es_id_alice;
CREATE ROLE es_id_bob;
CREATE ROLE es_id_mallory;
GRANT CREATE ON SCHEMA public TO es_id_bob, es_id_mallory;

SELECT es.append('acct-1', 0,
    es.event('Deposited', '{"amount": 1}', occurred_at => '2024-05-01 23:30+00'),
    es.event('Deposited', '{"amount": 2}', occurred_at => '2024-05-02 08:00+00'),
    es.event('Deposited', '{"amount": 3}', occurred_at => '2024-05-03 08:00+00'));

-- Bob's reducer adds with +, reads his rate table unqualified, and writes
-- timestamps and floats as text, all of which depend on settings.
SET ROLE es_id_bob;
SET search_path = public;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
SET IntervalStyle = 'postgres';
SET extra_float_digits = 1;
CREATE TABLE rates (factor numeric);
INSERT INTO rates VALUES (10);
CREATE FUNCTION bob_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'total', (state->>'total')::numeric + (e.data->>'amount')::numeric * (SELECT factor FROM rates),
        'last_at', e.occurred_at::text,
        'age', (e.occurred_at - timestamptz '2024-01-01 00:00+00')::text,
        'float', (0.1::float8 + 0.2::float8)::text,
        'who', current_user::text)
$$;
SELECT es.create_reducer('bob_r', '{"total": 0}', 'bob_apply(jsonb, es.events)', snapshot_every => 2);
SELECT es.create_reducer('bob_rules', '{}', snapshot_every => 2,
    rules => '{"*": [{"op": "set", "target": "$.last_at", "from": "$.occurred_at"},
                     {"op": "add", "target": "$.total", "from": "$.data.amount"}]}');
-- what was captured: every registry entry shows it
SELECT name, owner, settings FROM es.reducers ORDER BY name;
SELECT es.fold('acct-1', 'bob_r') AS bob_sees;
RESET ROLE;
RESET ALL;

-- Alice shadows + with her own operator and rates with a temporary table,
-- and picks other settings; she folds bob's reducers, and forces a snapshot.
CREATE SCHEMA es_id_evil AUTHORIZATION es_id_alice;
CREATE FUNCTION es_id_evil.minus(a numeric, b numeric) RETURNS numeric
    LANGUAGE sql AS 'SELECT a - b';
CREATE OPERATOR es_id_evil.+ (LEFTARG = numeric, RIGHTARG = numeric,
    FUNCTION = es_id_evil.minus);
SET ROLE es_id_alice;
CREATE TEMPORARY TABLE rates (factor numeric);
INSERT INTO rates VALUES (-1);
SET search_path = pg_temp, es_id_evil, pg_catalog, public;
SET TimeZone = 'Asia/Tokyo';
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = -3;
-- her own session really is different
SELECT 1::numeric + 1::numeric AS her_plus, (SELECT factor FROM rates) AS her_rate,
       timestamptz '2024-05-01 23:30+00' AS her_time, 0.1::float8 + 0.2::float8 AS her_float;
SELECT es.fold('acct-1', 'bob_r') AS alice_sees;
SELECT es.fold('acct-1', 'bob_rules') AS alice_sees_rules;
SELECT es.snapshot('acct-1', 'bob_r'), es.snapshot('acct-1', 'bob_rules');
SELECT es.fold_agg(e, 'bob_r' ORDER BY stream_version) AS alice_agg FROM es.read_stream('acct-1') e;
-- her identity and settings are back after the fold
SELECT current_user, current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds,
       current_setting('search_path') AS path;
-- her search_path is now bob's without its trailing pg_temp; as her session
-- has a temporary schema, his is still set: her table does not shadow his
SET search_path = public;
SELECT (SELECT factor FROM rates) AS her_rate,
       (SELECT es.fold_agg(e, 'bob_r' ORDER BY stream_version) FROM es.read_stream('acct-1') e)->'total' AS alice_total;
RESET ALL;
RESET ROLE;

-- Bob folds from the snapshots alice's calls stored: his results.
SELECT reducer, stream_version, fingerprint = es.reducer_fingerprint(reducer) AS current
FROM es.snapshots ORDER BY reducer, stream_version;
SET ROLE es_id_bob;
SELECT es.fold('acct-1', 'bob_r') AS bob_sees;
SELECT es.fold('acct-1', 'bob_rules') AS bob_sees_rules;
RESET ROLE;

-- A rules reducer writes timestamps in UTC whatever the session's TimeZone.
SET TimeZone = 'America/New_York';
SELECT es.fold('acct-1', 'bob_rules', to_version => 1) AS in_new_york;
RESET TimeZone;

-- No reducer runs with the caller's rights: mallory's reducer reads a table
-- only the superuser may read; a superuser folding it gets 42501, not the
-- secret.
CREATE TABLE secret (code text);
INSERT INTO secret VALUES ('swordfish');
REVOKE ALL ON secret FROM PUBLIC;
SET ROLE es_id_mallory;
CREATE FUNCTION mallory_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('who', current_user::text,
                              'secret', (SELECT code FROM public.secret))
$$;
SELECT es.create_reducer('mallory_r', '{}', 'mallory_apply(jsonb, es.events)');
RESET ROLE;
SELECT current_user AS caller, pg_temp.try($$SELECT es.fold('acct-1', 'mallory_r')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(e, 'mallory_r') FROM es.events e$$);
-- nor does it change what the session may do afterwards
SELECT current_user, count(*) AS secrets FROM secret;

-- A reducer runs as a security-restricted operation: no temporary tables,
-- no SET ROLE.
CREATE FUNCTION restricted_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMPORARY TABLE scratch (x int);
    RETURN state;
END $$;
SELECT es.create_reducer('restricted_r', '{}', 'restricted_apply(jsonb, es.events)');
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'restricted_r')$$);
CREATE OR REPLACE FUNCTION restricted_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    SET ROLE es_id_alice;
    RETURN state;
END $$;
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'restricted_r')$$);

-- The EXECUTE check is the registrant's: bob may fold alice's reducer on a
-- function only alice may execute; once alice loses EXECUTE, nobody may.
CREATE FUNCTION only_alice(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT jsonb_build_object('who', current_user::text) $$;
REVOKE EXECUTE ON FUNCTION only_alice(jsonb, es.events) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION only_alice(jsonb, es.events) TO es_id_alice;
SET ROLE es_id_alice;
SELECT es.create_reducer('alice_r', '{}', 'only_alice(jsonb, es.events)');
RESET ROLE;
SET ROLE es_id_bob;
SELECT es.fold('acct-1', 'alice_r') AS bob_folds_alices;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION only_alice(jsonb, es.events) FROM es_id_alice;
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'alice_r')$$);

-- A reducer whose registrant no longer exists does not run.
CREATE ROLE es_id_gone;
GRANT CREATE ON SCHEMA public TO es_id_gone;
SET ROLE es_id_gone;
CREATE FUNCTION gone_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS 'SELECT state';
SELECT es.create_reducer('gone_r', '{}', 'gone_apply(jsonb, es.events)');
RESET ROLE;
ALTER FUNCTION gone_apply(jsonb, es.events) OWNER TO CURRENT_USER;
REVOKE CREATE ON SCHEMA public FROM es_id_gone;
DROP ROLE es_id_gone;
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'gone_r')$$);

-- What a reducer SETs (even without LOCAL) does not outlive it: the caller's
-- session keeps its settings.
CREATE FUNCTION setter_apply(state jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    SET search_path = es_id_evil;
    PERFORM set_config('TimeZone', 'Asia/Tokyo', false);
    SET extra_float_digits = 3;
    RETURN state || jsonb_build_object('tz', current_setting('TimeZone'));
END $$;
SELECT es.create_reducer('setter_r', '{}', 'setter_apply(jsonb, es.events)');
SET TimeZone = 'UTC';
SELECT es.fold('acct-1', 'setter_r'),
       current_setting('TimeZone') AS tz, current_setting('search_path') AS path,
       current_setting('extra_float_digits') AS efd;
SELECT es.fold_agg(e, 'setter_r'), current_setting('TimeZone') AS tz,
       current_setting('search_path') AS path, current_setting('extra_float_digits') AS efd
FROM es.events e;
BEGIN;
SET LOCAL TimeZone = 'America/New_York';
SELECT es.fold('acct-1', 'setter_r'), current_setting('TimeZone') AS tz;
COMMIT;
SELECT current_setting('TimeZone') AS tz, current_setting('search_path') AS path;
RESET TimeZone;

-- Errors inside a reducer leave the caller's identity and settings intact.
SET TimeZone = 'Asia/Tokyo';
SELECT pg_temp.try($$SELECT es.fold('acct-1', 'mallory_r')$$);
SELECT current_user, current_setting('TimeZone') AS tz;
RESET TimeZone;

SELECT es.drop_reducer(name) FROM es.reducers ORDER BY name;
DROP TABLE secret, public.rates, pg_temp.rates;
DROP FUNCTION bob_apply(jsonb, es.events), mallory_apply(jsonb, es.events),
    restricted_apply(jsonb, es.events), only_alice(jsonb, es.events),
    gone_apply(jsonb, es.events), setter_apply(jsonb, es.events);
DROP SCHEMA es_id_evil CASCADE;
REVOKE CREATE ON SCHEMA public FROM es_id_bob, es_id_mallory;
DROP ROLE es_id_alice;
DROP ROLE es_id_bob;
DROP ROLE es_id_mallory;
