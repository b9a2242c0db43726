-- The reducer cache and the registry behind it: a stored definition that
-- fails to load fails every time (never half-cached), a function swapped
-- under a reducer is checked again, revisions never repeat, and a
-- fingerprint changes with everything a fold's result depends on.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';

SELECT es.append('s-1', 0, es.event('Deposited', '{"amount": 5}'),
                           es.event('Deposited', '{"amount": 7}'));

-- Stored rules that no longer compile (a hand edit, a restore, a stricter
-- version): the same error at every fold, never a half-built entry.  Once
-- before the reducer was ever loaded in this session, once after.
SELECT es.create_reducer('edited', '{}', rules => '{"Deposited": [{"op": "add", "target": "$.total", "from": "$.data.amount"}]}');
UPDATE es.reducers_registry SET rules = '{"Deposited": [{"bogus": "total"}]}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(e, 'edited') FROM es.events e$$);
SELECT pg_temp.try($$SELECT es.reducer_fingerprint('edited')$$);
-- a direct edit reaches the cache (a statement trigger invalidates it)
UPDATE es.reducers_registry SET rules = '{"Deposited": [{"op": "count", "target": "$.deposits"}]}' WHERE name = 'edited';
SELECT es.fold('s-1', 'edited');
UPDATE es.reducers_registry SET rules = '{"Deposited": [{"bogus": "total"}]}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
-- other hand edits the cache refuses cleanly
UPDATE es.reducers_registry SET rules = '{"Deposited": [{"op": "count", "target": "$.deposits"}]}', initial_state = '[]'
WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
UPDATE es.reducers_registry SET initial_state = '{}', settings = '{TimeZone=UTC,NULL}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
UPDATE es.reducers_registry SET settings = '{role=postgres}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
UPDATE es.reducers_registry SET settings = '{TimeZone=UTC,timezone=UTC}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
UPDATE es.reducers_registry SET settings = '{TimeZone}' WHERE name = 'edited';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'edited')$$);
UPDATE es.reducers_registry SET settings = '{}' WHERE name = 'edited';
SELECT es.fold('s-1', 'edited');

-- A function dropped and created again under the same signature with
-- another result type: a clean error (42804), not a misread result.
CREATE FUNCTION swapped(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT state || jsonb_build_object('n', e.stream_version) $$;
SELECT es.create_reducer('swapped', '{}', 'swapped(jsonb, es.events)');
SELECT es.fold('s-1', 'swapped');
DROP FUNCTION swapped(jsonb, es.events);
CREATE FUNCTION swapped(state jsonb, e es.events) RETURNS integer LANGUAGE sql AS 'SELECT 42';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'swapped')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(e, 'swapped') FROM es.events e$$);
SELECT pg_temp.try($$SELECT es.reducer_fingerprint('swapped')$$);
DROP FUNCTION swapped(jsonb, es.events);
CREATE FUNCTION swapped(state jsonb, e es.events) RETURNS text LANGUAGE sql AS $$ SELECT 'not json' $$;
SELECT pg_temp.try($$SELECT es.fold('s-1', 'swapped')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(e, 'swapped') FROM es.events e$$);
DROP FUNCTION swapped(jsonb, es.events);
CREATE FUNCTION swapped(state jsonb, e es.events) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT state $$;
SELECT pg_temp.try($$SELECT es.fold('s-1', 'swapped')$$);
DROP FUNCTION swapped(jsonb, es.events);
CREATE PROCEDURE swapped(state jsonb, e es.events) LANGUAGE sql AS 'SELECT 1';
SELECT pg_temp.try($$SELECT es.fold('s-1', 'swapped')$$);
DROP PROCEDURE swapped(jsonb, es.events);
SELECT pg_temp.try($$SELECT es.fold('s-1', 'swapped')$$);
-- back with the right signature: folds again
CREATE FUNCTION swapped(state jsonb, e es.events) RETURNS jsonb LANGUAGE sql
    AS $$ SELECT state || jsonb_build_object('again', e.stream_version) $$;
SELECT es.fold('s-1', 'swapped');
SELECT es.fold_agg(e, 'swapped' ORDER BY stream_version) FROM es.events e;

-- Revisions come from a sequence: a drop and re-create never repeats one,
-- so snapshots of the old definition are never taken for the new one.
CREATE TEMPORARY TABLE seen (step text, revision bigint, fingerprint bigint);
SELECT es.create_reducer('again', '{"def": 1}', rules => '{"*": [{"op": "count", "target": "$.n"}]}', snapshot_every => 1);
SELECT es.fold('s-1', 'again');
INSERT INTO seen SELECT 'created', revision, es.reducer_fingerprint(name) FROM es.reducers WHERE name = 'again';
SELECT es.create_reducer('again', '{"def": 1}', rules => '{"*": [{"op": "count", "target": "$.n"}]}', snapshot_every => 1);
INSERT INTO seen SELECT 'replaced', revision, es.reducer_fingerprint(name) FROM es.reducers WHERE name = 'again';
SELECT es.drop_reducer('again');
SELECT es.create_reducer('again', '{"def": 1}', rules => '{"*": [{"op": "count", "target": "$.n"}]}', snapshot_every => 1);
INSERT INTO seen SELECT 're-created', revision, es.reducer_fingerprint(name) FROM es.reducers WHERE name = 'again';
SELECT count(DISTINCT revision) AS revisions, count(DISTINCT fingerprint) AS fingerprints FROM seen;
SELECT step, revision > lag(revision) OVER (ORDER BY revision) AS increasing FROM seen ORDER BY revision;

-- The fingerprint covers the captured settings (and the rest of the row),
-- even when a hand edit leaves the revision alone.
SELECT es.reducer_fingerprint('again') AS before \gset
UPDATE es.reducers_registry SET settings[2] = 'TimeZone=Asia/Tokyo' WHERE name = 'again';
SELECT es.reducer_fingerprint('again') <> :before AS settings_count;
SELECT es.reducer_fingerprint('again') AS before \gset
UPDATE es.reducers_registry SET owner = 'pg_database_owner' WHERE name = 'again';
SELECT es.reducer_fingerprint('again') <> :before AS owner_counts;
SELECT es.reducer_fingerprint('again') AS before \gset
UPDATE es.reducers_registry SET initial_state = '{"def": 2}' WHERE name = 'again';
SELECT es.reducer_fingerprint('again') <> :before AS initial_state_counts;
SELECT es.fold('s-1', 'again');
-- every backend computes the same fingerprint for the same row
SELECT es.reducer_fingerprint('again') AS before \gset
\c
SELECT es.reducer_fingerprint('again') = :before AS same_in_a_new_session;

DROP FUNCTION swapped(jsonb, es.events);

-- A reducer function that drops itself (user code may run DDL): the next
-- event of the fold is a clean 42883, not PostgreSQL's internal
-- "cache lookup failed" from calling a function that is gone.
CREATE FUNCTION self_dropping(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql
    AS $$ BEGIN EXECUTE 'DROP FUNCTION self_dropping(jsonb, es.events)'; RETURN s; END $$;
SELECT es.create_reducer('self_dropping', apply => 'self_dropping(jsonb, es.events)');
SELECT es.append('sd-1', NULL, es.event('E', '{}'), es.event('E', '{}'));
\set VERBOSITY sqlstate
SELECT es.fold('sd-1', 'self_dropping');
\set VERBOSITY default
SELECT es.fold('sd-1', 'self_dropping');
