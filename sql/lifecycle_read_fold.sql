-- Stream lifecycle, read side: es.fold, its as-of and to_version forms and
-- es.snapshot leave out hidden events (deletion, truncation, tombstone,
-- retention by count and by age) as if they did not exist, and a fold's
-- result never depends on whether a snapshot exists: a snapshot (versions
-- 1..v) is used, and one is taken, only when no event can be hidden.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';

-- the same rules with snapshots at every second version, and without
SELECT es.create_reducer(name, '{"n": 0, "seen": []}', snapshot_every => every, rules => $r$
  {"Step": [{"op": "add", "target": "$.n", "from": "$.data.n"},
            {"op": "append", "target": "$.seen", "from": "$.stream_version"}]}
$r$) FROM (VALUES ('snap', 2), ('plain', NULL)) AS r(name, every);

-- Every form of the fold, with the snapshotting reducer and the plain one;
-- "same" says whether they agree everywhere.
CREATE FUNCTION pg_temp.folds(stream text)
RETURNS TABLE (fold text, state jsonb, same boolean) LANGUAGE sql AS $$
    SELECT f, es.fold(stream, 'snap', a, v), es.fold(stream, 'snap', a, v) = es.fold(stream, 'plain', a, v)
    FROM (VALUES ('all', NULL::timestamptz, NULL::bigint),
                 ('to_version 5', NULL, 5),
                 ('as_of day 4', '2020-01-04', NULL),
                 ('as_of day 5, to_version 4', '2020-01-05', 4)) AS x(f, a, v)
$$;

-- The same folds without any snapshot of the stream (rolled back).
CREATE FUNCTION pg_temp.folds_without_snapshots(stream text)
RETURNS TABLE (fold text, state jsonb, same boolean) LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM es.snapshots WHERE stream_id = stream;
    RETURN QUERY SELECT * FROM pg_temp.folds(stream);
    RAISE EXCEPTION USING ERRCODE = 'P0004';
EXCEPTION WHEN assert_failure THEN
    RETURN;
END $$;

-- Six events on days 1..6 in each stream, and snapshots at 2, 4 and 6.
SELECT es.append(s, 0, VARIADIC (
    SELECT array_agg(es.event('Step', jsonb_build_object('n', i),
                              occurred_at => timestamptz '2020-01-01' + (i - 1) * interval '1 day')
                     ORDER BY i)
    FROM generate_series(1, 6) i WHERE s IS NOT NULL))
FROM unnest(ARRAY['plain-1', 'deleted-1', 'truncated-1', 'tomb-1', 'count-1', 'age-1']) s;
SELECT s, es.fold(s, 'snap', to_version => 2), es.fold(s, 'snap', to_version => 4), es.fold(s, 'snap') IS NOT NULL
FROM unnest(ARRAY['plain-1', 'deleted-1', 'truncated-1', 'tomb-1', 'count-1', 'age-1']) s;
SELECT stream_id, array_agg(stream_version ORDER BY stream_version) AS snapshots
FROM es.snapshots GROUP BY stream_id ORDER BY stream_id;
-- mark the snapshots, so that a fold that starts from one shows it
UPDATE es.snapshots SET state = state || '{"from_snapshot": true}';

-- nothing hidden: the snapshots are used ("same" is false only because of
-- the mark)
SELECT * FROM pg_temp.folds('plain-1');

-- deleted: every fold is the initial state, snapshots or not
SELECT FROM es.delete_stream('deleted-1');
SELECT * FROM pg_temp.folds('deleted-1');
SELECT * FROM pg_temp.folds_without_snapshots('deleted-1');
-- re-opened: only the new events, and still no snapshot
SELECT es.append('deleted-1', 6, es.event('Step', '{"n": 70}', occurred_at => '2020-01-07'),
                                 es.event('Step', '{"n": 80}', occurred_at => '2020-01-08'));
SELECT es.fold('deleted-1', 'snap'), es.fold('deleted-1', 'snap', to_version => 7),
       es.fold('deleted-1', 'snap', '2020-01-07');
SELECT es.snapshot('deleted-1', 'snap');

-- truncated before 4
SELECT FROM es.truncate_stream('truncated-1', 4);
SELECT * FROM pg_temp.folds('truncated-1');
SELECT * FROM pg_temp.folds_without_snapshots('truncated-1');

-- tombstoned
SELECT FROM es.tombstone_stream('tomb-1');
SELECT * FROM pg_temp.folds('tomb-1');
SELECT * FROM pg_temp.folds_without_snapshots('tomb-1');

-- retention by count (the last 3)
SELECT FROM es.create_retention('count', max_count => 3);
SELECT * FROM pg_temp.folds('count-1');
SELECT * FROM pg_temp.folds_without_snapshots('count-1');

-- retention by age (1..3 recorded two hours ago; the limit an hour)
ALTER TABLE es.events DISABLE TRIGGER events_immutable;
UPDATE es.events SET recorded_at = recorded_at - interval '2 hours'
WHERE stream_id = 'age-1' AND stream_version <= 3;
ALTER TABLE es.events ENABLE ALWAYS TRIGGER events_immutable;
SELECT FROM es.create_retention('age', max_age => interval '1 hour');
SELECT * FROM pg_temp.folds('age-1');
SELECT * FROM pg_temp.folds_without_snapshots('age-1');

-- no fold of a stream with hidden events took a snapshot
SELECT stream_id, array_agg(stream_version ORDER BY stream_version) AS snapshots
FROM es.snapshots GROUP BY stream_id ORDER BY stream_id;

-- without the policies the old snapshots are valid again, and used (marked)
DELETE FROM es.retention_registry;
SELECT * FROM pg_temp.folds('count-1');
SELECT * FROM pg_temp.folds('age-1');

-- a fold reads the stream's row and its events under one snapshot: in a
-- REPEATABLE READ transaction a deletion committed meanwhile is not seen
-- (specs/lifecycle_read_race.spec shows it between two sessions)
