-- Stream lifecycle, read side: es.read_stream (forwards, backwards,
-- from_version, max_count) and es.fold_agg fed from it leave out the
-- events hidden by a deletion, a truncation, a tombstone, and retention by
-- count and by age, as if they did not exist; es.stream_version keeps the
-- version.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- Time passing, simulated: move the recorded_at of some events back (the
-- immutability trigger is switched off around it, as only a superuser can).
CREATE FUNCTION pg_temp.age_events(stream text, upto bigint, by_ interval) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    ALTER TABLE es.events DISABLE TRIGGER events_immutable;
    UPDATE es.events SET recorded_at = recorded_at - by_
    WHERE stream_id = stream AND stream_version <= upto;
    ALTER TABLE es.events ENABLE ALWAYS TRIGGER events_immutable;
END $$;

-- Every read of a stream at once: forwards, backwards, bounded, counted.
CREATE FUNCTION pg_temp.reads(stream text)
RETURNS TABLE (read text, versions bigint[]) LANGUAGE sql AS $$
    SELECT 'forward', array(SELECT stream_version FROM es.read_stream(stream))
    UNION ALL
    SELECT 'backward', array(SELECT stream_version FROM es.read_stream(stream, backwards => true))
    UNION ALL
    SELECT 'from 2, 2', array(SELECT stream_version FROM es.read_stream(stream, 2, 2))
    UNION ALL
    SELECT 'from 5, 2', array(SELECT stream_version FROM es.read_stream(stream, 5, 2))
    UNION ALL
    SELECT 'back from 4, 2', array(SELECT stream_version FROM es.read_stream(stream, 4, 2, true))
    UNION ALL
    SELECT 'back from 2', array(SELECT stream_version FROM es.read_stream(stream, 2, NULL, true))
    UNION ALL
    SELECT 'first', array(SELECT stream_version FROM es.read_stream(stream, NULL, 1))
    UNION ALL
    SELECT 'last', array(SELECT stream_version FROM es.read_stream(stream, NULL, 1, true))
    UNION ALL
    SELECT 'version', ARRAY[es.stream_version(stream)]
$$;

SELECT es.create_reducer('sum', '{"n": 0, "seen": []}', rules => $r$
  {"Step": [{"op": "add", "target": "$.n", "from": "$.data.n"},
            {"op": "append", "target": "$.seen", "from": "$.stream_version"}]}
$r$);

-- six events in each of a few streams
SELECT es.append(s, 0, VARIADIC (
    SELECT array_agg(es.event('Step', jsonb_build_object('n', i)) ORDER BY i)
    FROM generate_series(1, 6) i WHERE s IS NOT NULL))
FROM unnest(ARRAY['plain-1', 'deleted-1', 'truncated-1', 'tomb-1', 'count-1', 'age-1']) s;

-- nothing hidden
SELECT * FROM pg_temp.reads('plain-1');

-- a deletion hides every event; the version stays
SELECT FROM es.delete_stream('deleted-1');
SELECT * FROM pg_temp.reads('deleted-1');
SELECT es.fold_agg(e, 'sum' ORDER BY stream_version) FROM es.read_stream('deleted-1') e;
-- an append (expecting the version) re-opens it: only the new events are read
SELECT es.append('deleted-1', 6, es.event('Step', '{"n": 70}'), es.event('Step', '{"n": 80}'));
SELECT * FROM pg_temp.reads('deleted-1');
SELECT es.fold_agg(e, 'sum' ORDER BY stream_version) FROM es.read_stream('deleted-1') e;

-- a truncation before version 4 hides 1..3
SELECT FROM es.truncate_stream('truncated-1', 4);
SELECT * FROM pg_temp.reads('truncated-1');
SELECT es.fold_agg(e, 'sum' ORDER BY stream_version) FROM es.read_stream('truncated-1') e;
-- a truncation further back changes nothing
SELECT FROM es.truncate_stream('truncated-1', 2);
SELECT array(SELECT stream_version FROM es.read_stream('truncated-1')) AS versions;

-- a tombstone hides everything, and so does one on a never-written id
SELECT FROM es.tombstone_stream('tomb-1');
SELECT * FROM pg_temp.reads('tomb-1');
SELECT FROM es.tombstone_stream('tomb-2');
SELECT * FROM pg_temp.reads('tomb-2');

-- retention by count: the last max_count events of each stream of the category
SELECT FROM es.create_retention('count', max_count => 2);
SELECT * FROM pg_temp.reads('count-1');
-- it follows the stream: two more events, the last two of them are read
SELECT es.append('count-1', 6, es.event('Step', '{"n": 7}'), es.event('Step', '{"n": 8}'));
SELECT array(SELECT stream_version FROM es.read_stream('count-1')) AS versions;
-- with a truncation too, the longer of the two hidden prefixes counts
SELECT es.append('count-2', 0, es.event('Step', '{"n": 1}'), es.event('Step', '{"n": 2}'),
                                 es.event('Step', '{"n": 3}'));
SELECT FROM es.truncate_stream('count-2', 3);
SELECT array(SELECT stream_version FROM es.read_stream('count-2')) AS versions;
-- other categories are not affected
SELECT array(SELECT stream_version FROM es.read_stream('plain-1')) AS versions;
-- dropping the policy makes what was not purged visible again
SELECT FROM es.drop_retention('count');
SELECT array(SELECT stream_version FROM es.read_stream('count-1')) AS versions;

-- retention by age counts from recorded_at (system time), at T = now():
-- events 1..3 recorded two hours ago, 4..6 now
SELECT pg_temp.age_events('age-1', 3, interval '2 hours');
-- back-dated business time does not make an event old
SELECT es.append('age-1', 6, es.event('Step', '{"n": 7}', occurred_at => '2001-01-01 00:00:00+00'));
SELECT FROM es.create_retention('age', max_age => interval '1 hour');
SELECT * FROM pg_temp.reads('age-1');
SELECT es.fold_agg(e, 'sum' ORDER BY stream_version) FROM es.read_stream('age-1') e;
-- time passes (simulated): a fold can change as time passes
SELECT pg_temp.age_events('age-1', 5, interval '30 minutes');
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
SELECT pg_temp.age_events('age-1', 5, interval '30 minutes');
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
-- with a longer max_age they are back
UPDATE es.retention_registry SET max_age = interval '1 day' WHERE category = 'age';
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
-- an absurd max_age hides nothing and fails nowhere
UPDATE es.retention_registry SET max_age = interval '100000 years' WHERE category = 'age';
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
-- both limits at once: the last 3, and younger than an hour
UPDATE es.retention_registry SET max_age = interval '1 hour', max_count = 3 WHERE category = 'age';
SELECT * FROM pg_temp.reads('age-1');
DELETE FROM es.retention_registry;

-- a policy applies at once, in the transaction that creates it, and a
-- rolled-back one is forgotten
BEGIN;
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
SELECT FROM es.create_retention('age', max_age => interval '1 hour');
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;
ROLLBACK;
SELECT array(SELECT stream_version FROM es.read_stream('age-1')) AS versions;

-- the "$" companion streams are never hidden by retention, and are read
-- like any stream (lifecycle events in order)
-- (es.create_retention refuses a "$" category: a row written by hand)
INSERT INTO es.retention_registry (category, max_count, owner) VALUES ('$count', 1, current_user::regrole);
SELECT FROM es.delete_stream('count-1');
SELECT FROM es.delete_stream('count-1');
SELECT stream_version, event_type, data FROM es.read_stream('$count-1');
SELECT stream_version, event_type, data->'stream_id' AS stream FROM es.read_stream('$deleted-1');
DELETE FROM es.retention_registry;

-- the events stay in es.events (until es.purge)
SELECT count(*) FROM es.events WHERE stream_id = 'deleted-1';
