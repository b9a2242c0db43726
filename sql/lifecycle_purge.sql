-- es.purge: removes exactly the hidden events (deleted, tombstoned,
-- truncated, retained by count or by age), never a `$` lifecycle event,
-- and the snapshots that covered them; log readers move on; a fold of
-- the visible events is the same before and after; who may purge; the
-- one door through the immutability trigger.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SET client_min_messages = warning;
DROP ROLE IF EXISTS es_janitor;
RESET client_min_messages;
CREATE ROLE es_janitor;

-- The hidden predicate of the lifecycle contract, at this transaction's
-- start: the events purge must remove.
CREATE FUNCTION pg_temp.hidden() RETURNS SETOF bigint LANGUAGE sql AS $$
    SELECT e.global_position FROM es.events e
    JOIN es.streams s ON s.stream_id = e.stream_id
    LEFT JOIN es.retention_registry r ON r.category = s.category
    WHERE NOT starts_with(e.stream_id, '$')
      AND (s.tombstoned OR e.stream_version <= s.hidden_through
           OR e.stream_version <= s.version - r.max_count
           OR e.recorded_at < now() - r.max_age) $$;
-- The state of each stream's visible events under a reducer.
CREATE FUNCTION pg_temp.visible_folds() RETURNS TABLE (stream_id text, state jsonb)
LANGUAGE sql AS $$
    SELECT e.stream_id, es.fold_agg(e, 'tally' ORDER BY e.stream_version)
    FROM es.events e
    WHERE e.global_position NOT IN (SELECT pg_temp.hidden())
      AND NOT starts_with(e.stream_id, '$')
    GROUP BY e.stream_id ORDER BY e.stream_id $$;

SELECT es.create_reducer('tally', rules => '{"*": [{"op": "count", "target": "$.n"},
                                                   {"op": "merge", "from": "$.data"}]}');
SELECT es.create_subscription('everything', categories => ARRAY['acct', 'order', 'metric', 'log', 'other']);

-- Deleted, then re-opened: versions 1-3 hidden, 4 visible.
SELECT es.append('acct-1', 0, es.event('Opened', '{"a": 1}'), es.event('Deposited', '{"b": 2}'),
                 es.event('Deposited', '{"b": 3}'));
SELECT es.snapshot('acct-1', 'tally');
SELECT es.delete_stream('acct-1', 3);
SELECT es.append('acct-1', 3, es.event('Opened', '{"a": 4}'));
-- Tombstoned: all hidden.
SELECT es.append('acct-2', 0, es.event('Opened', '{"a": 1}'), es.event('Deposited', '{"b": 1}'));
SELECT es.tombstone_stream('acct-2');
-- Truncated before 3: versions 1-2 hidden.
SELECT es.append('order-1', 0, es.event('Placed', '{"c": 1}'), es.event('Paid', '{"c": 2}'),
                 es.event('Summary', '{"c": 3, "total": 7}'), es.event('Shipped', '{"d": 4}'));
SELECT es.snapshot('order-1', 'tally');
SELECT es.truncate_stream('order-1', 3);
-- Retention by count: each metric stream keeps its last 2 events.
SELECT es.create_retention('metric', max_count => 2);
SELECT es.append('metric-1', NULL, es.event('Sample', jsonb_build_object('v', i))) FROM generate_series(1, 5) i;
SELECT es.append('metric-2', NULL, es.event('Sample', '{"v": 1}'));
-- Retention by age: two events recorded two days ago (written as a restore
-- would write them), one now.
SELECT es.create_retention('log', max_age => '1 day');
INSERT INTO es.streams (stream_id, category, version, created_at, updated_at)
VALUES ('log-1', 'log', 2, now() - interval '2 days', now() - interval '2 days');
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, data, occurred_at, recorded_at)
SELECT 'log-1', i, es.uuid_v7(), 'Line', jsonb_build_object('l', i),
       now() - interval '2 days', now() - interval '2 days'
FROM generate_series(1, 2) i;
SELECT es.append('log-1', 2, es.event('Line', '{"l": 3}'));
-- Untouched.
SELECT es.append('other-1', 0, es.event('Opened', '{"o": 1}'), es.event('Noted', '{"o": 2}'));
SELECT es.snapshot('other-1', 'tally');
-- A retention policy dropped before the purge hides nothing any more.
SELECT es.create_retention('tmp', max_count => 1);
SELECT es.append('tmp-1', 0, es.event('T', '{}'), es.event('T', '{}'));
SELECT es.drop_retention('tmp');

-- A subscriber has consumed the first two events.
SELECT stream_id, stream_version FROM es.poll('everything', 2);

SELECT e.stream_id, e.stream_version, e.event_type, e.global_position IN (SELECT pg_temp.hidden()) AS hidden
FROM es.events e ORDER BY e.global_position;
CREATE TEMP TABLE kept AS
SELECT global_position FROM es.events WHERE global_position NOT IN (SELECT pg_temp.hidden());
CREATE TEMP TABLE folds_before AS SELECT * FROM pg_temp.visible_folds();
SELECT stream_id, stream_version FROM es.snapshots ORDER BY stream_id;

-- Who may purge: not PUBLIC; a role granted EXECUTE.
SET ROLE es_janitor;
CALL es.purge();
RESET ROLE;
SELECT count(*) AS events_still_there FROM es.events;
GRANT EXECUTE ON PROCEDURE es.purge(integer, integer) TO es_janitor;

-- Small batches: several commits and pauses, a stream's hidden events over two batches.
SET ROLE es_janitor;
CALL es.purge(batch_size => 2, pause_ms => 1);
SELECT current_user;
RESET ROLE;

-- Exactly the hidden events are gone; the `$` lifecycle events stay.
SELECT (SELECT array_agg(global_position ORDER BY global_position) FROM kept)
     = (SELECT array_agg(global_position ORDER BY global_position) FROM es.events) AS exactly_the_hidden_gone;
SELECT e.stream_id, e.stream_version, e.event_type FROM es.events e ORDER BY e.global_position;
-- The snapshots that covered a purged event are gone, the others kept.
SELECT stream_id, stream_version FROM es.snapshots ORDER BY stream_id;
-- A fold of the visible events is the same as before.
SELECT f.stream_id, f.state, b.state IS NOT DISTINCT FROM f.state AS same_as_before
FROM pg_temp.visible_folds() f FULL JOIN folds_before b USING (stream_id) ORDER BY 1;
-- Versions and visibility state are untouched; appends go on.
SELECT stream_id, version, hidden_through, tombstoned FROM es.streams ORDER BY stream_id;
SELECT es.append('acct-1', 4, es.event('Deposited', '{"b": 5}'));
SELECT es.append('metric-1', 5, es.event('Sample', '{"v": 6}'));

-- The subscriber moves on past the purged positions, no error, nothing
-- visible skipped; the log reads on in order.
SELECT stream_id, stream_version FROM es.poll('everything');
SELECT stream_id, stream_version FROM es.read_all(0, NULL, categories => ARRAY['acct', 'order', 'metric', 'log', 'other']);

-- Purging again finds what the last appends hid (metric-1 keeps 2 events).
CALL es.purge();
SELECT stream_id, stream_version FROM es.events WHERE stream_id = 'metric-1' ORDER BY 2;
CALL es.purge(1, pause_ms => 1);
SELECT count(*) FROM es.events;

-- The door is es.purge's own: every other DELETE is still refused, by
-- every role, also right after a purge in the same session.
SELECT pg_temp.try($$DELETE FROM es.events WHERE stream_id = 'other-1'$$);
SELECT pg_temp.try($$DELETE FROM es.events WHERE false$$);
SELECT pg_temp.try($$TRUNCATE es.events$$);
SELECT pg_temp.try($$DELETE FROM es.snapshots$$);   -- the superuser may edit the cache

-- Bad input and the wrong context: clear errors, nothing removed.
SELECT pg_temp.try($$CALL es.purge(NULL)$$);
SELECT pg_temp.try($$CALL es.purge(0)$$);
SELECT pg_temp.try($$CALL es.purge(-1)$$);
SELECT pg_temp.try($$CALL es.purge(10, NULL)$$);
SELECT pg_temp.try($$CALL es.purge(10, -1)$$);
BEGIN;
CALL es.purge();
ROLLBACK;
CREATE FUNCTION pg_temp.purge_in_function() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CALL es.purge();
END $$;
SELECT pg_temp.try($$SELECT pg_temp.purge_in_function()$$);
-- a procedure calling it outside a transaction block may (it commits too)
CREATE PROCEDURE pg_temp.nightly() LANGUAGE plpgsql AS $$
BEGIN
    CALL es.purge(100);
END $$;
CALL pg_temp.nightly();
SELECT count(*) FROM es.events;

REVOKE EXECUTE ON PROCEDURE es.purge(integer, integer) FROM es_janitor;
DROP ROLE es_janitor;
