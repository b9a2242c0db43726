-- Consistency boundaries: tags, es.read_events, es.append_if, lock buckets
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- Tags are stored with the event and read by every read path; no tags and
-- an empty array are both stored as NULL.
SELECT es.append('course-c1', 0,
    es.event('CourseDefined', '{"capacity": 2}', tags => ARRAY['course:c1']));
SELECT es.append('student-s1', NULL,
    es.event('StudentEnrolled', '{"course_id": "c1"}', tags => ARRAY['course:c1', 'student:s1']),
    es.event('Noted', '{}'),
    es.event('Noted', '{}', tags => '{}'));
SELECT es.append('course-c2', 0,
    es.event('CourseDefined', '{"capacity": 1}', tags => ARRAY['course:c2']));
SELECT global_position, stream_id, event_type, tags FROM es.events ORDER BY global_position;
SELECT stream_version, tags FROM es.read_stream('student-s1');
SELECT global_position, tags FROM es.read_all(0, NULL, ARRAY['StudentEnrolled']);
SELECT (es.event('T', '{}', tags => ARRAY['a', 'b'])).tags;

-- Bad tags: clear errors, nothing written.
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => ARRAY['a', NULL])$$);
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => ARRAY['a', ''])$$);
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => ARRAY['a', 'b', 'a'])$$);
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => ARRAY[repeat('x', 257)])$$);
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => ARRAY[['a'], ['b']])$$);
SELECT pg_temp.try($$SELECT es.event('T', '{}', tags => (SELECT array_agg('t' || i) FROM generate_series(1, 33) i))$$);
-- The same checks hold for an es.new_event built by hand.
SELECT pg_temp.try($$SELECT es.append('x-1', NULL, ROW('T', '{}', NULL, NULL, NULL, NULL, ARRAY['a', 'a'])::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('x-1', NULL, ROW('T', '{}', NULL, NULL, NULL, NULL, ARRAY[NULL::text])::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('x-1', NULL, ROW('T', '{}', NULL, NULL, NULL, NULL, '{{a},{b}}')::es.new_event)$$);
SELECT count(*) FROM es.events WHERE stream_id = 'x-1';
-- ... and for es.events rows built by hand (es.fold_agg reads them).
SELECT es.create_reducer('r', '{"n": 0}', rules => '{"*": [{"op": "add", "target": "$.n", "value": 1}]}');
SELECT es.fold_agg(e, 'r') FROM es.events e WHERE e.stream_id = 'student-s1';
SELECT pg_temp.try($$SELECT es.fold_agg(ROW(1, 's-1', 1, gen_random_uuid(), 'T', 1, '{}', NULL,
    now(), now(), '1', ARRAY['a', '']::text[])::es.events, 'r')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(ROW(1, 's-1', 1, gen_random_uuid(), 'T', 1, '{}', NULL,
    now(), now(), '1', (SELECT array_agg('t' || i) FROM generate_series(1, 40) i))::es.events, 'r')$$);

-- Queries: an event matches an item when its stored type is one of the
-- item's types (if any) and it carries all of the item's tags; it matches
-- the query when it matches any item.
SELECT global_position, event_type, tags FROM es.read_events('[{"tags": ["course:c1"]}]');
SELECT global_position, event_type FROM es.read_events('[{"tags": ["course:c1", "student:s1"]}]');
SELECT global_position, event_type FROM es.read_events('[{"types": ["CourseDefined"], "tags": ["course:c1"]}]');
SELECT global_position, event_type FROM es.read_events('[{"types": ["Noted"]}, {"tags": ["course:c2"]}]');
SELECT global_position, event_type FROM es.read_events('[{"tags": ["course:c3"]}]');
-- after_position and max_count
SELECT global_position FROM es.read_events('[{"types": ["CourseDefined", "Noted"]}]', 2);
SELECT global_position FROM es.read_events('[{"types": ["CourseDefined", "Noted"]}]', 0, 2);
SELECT global_position FROM es.read_events('[{"types": ["CourseDefined"]}]', 0, 0);
SELECT global_position FROM es.read_events('[{"types": ["CourseDefined"]}]', 1000);

-- Bad queries: clear errors.
SELECT pg_temp.try($$SELECT * FROM es.read_events(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('{"tags": ["a"]}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('"a"')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[1]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tag": ["a"]}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": "a"}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": null}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": []}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": ["a", 1]}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": [""]}]')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"types": [""]}]')$$);
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', jsonb_build_array(jsonb_build_object('tags', jsonb_build_array(repeat('x', 257))))));
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', (SELECT jsonb_agg(jsonb_build_object('tags', jsonb_build_array('t' || i))) FROM generate_series(1, 33) i)));
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', jsonb_build_array(jsonb_build_object('tags', (SELECT jsonb_agg('t' || i) FROM generate_series(1, 33) i)))));
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', jsonb_build_array(jsonb_build_object('types', (SELECT jsonb_agg('t' || i) FROM generate_series(1, 33) i)))));
-- 32 event types in items without tags lock 32 buckets at most (some may share one)
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', (SELECT jsonb_agg(jsonb_build_object('types', jsonb_build_array('t' || i))) FROM generate_series(1, 32) i)));
-- ... more would be too wide for a condition
SELECT pg_temp.try(format('SELECT * FROM es.read_events(%L)', (SELECT jsonb_agg(jsonb_build_object('types', (SELECT jsonb_agg('t' || i || '-' || j) FROM generate_series(1, 32) i))) FROM generate_series(1, 3) j)));
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": ["a"]}]', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": ["a"]}]', -1)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_events('[{"tags": ["a"]}]', 0, -1)$$);

-- es.append_if: the bound is the position of the last event read.
SELECT max(global_position) AS last FROM es.read_events('[{"tags": ["course:c1"]}]') \gset
SELECT es.append_if('[{"tags": ["course:c1"]}]', :last, 'student-s2', NULL,
    es.event('StudentEnrolled', '{"course_id": "c1"}', tags => ARRAY['course:c1', 'student:s2']));
-- A second decision on the same read fails: 40001, its own constraint name.
SELECT pg_temp.try(format($$SELECT es.append_if('[{"tags": ["course:c1"]}]', %s, 'student-s3', NULL,
    es.event('StudentEnrolled', '{"course_id": "c1"}', tags => ARRAY['course:c1', 'student:s3']))$$, :last));
SELECT count(*) FROM es.events WHERE stream_id = 'student-s3';
-- Events that match no item do not trip the condition (other tags, other
-- types, untagged events).
SELECT es.append('student-s9', NULL, es.event('StudentEnrolled', '{}', tags => ARRAY['course:c2']),
                 es.event('Noted', '{}'));
SELECT es.append_if('[{"types": ["CourseDefined"], "tags": ["course:c1"]}]', :last, 'course-c1', 1,
    es.event('CourseCapacityChanged', '{"capacity": 3}', tags => ARRAY['course:c1']));
-- The version check still applies, with its own constraint name.
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["nothing"]}]', 0, 'course-c1', 1,
    es.event('Noted', '{}'))$$);
-- An item without tags is matched by type.
SELECT pg_temp.try($$SELECT es.append_if('[{"types": ["Noted"]}]', 0, 'x-2', NULL, es.event('Noted', '{}'))$$);
-- NULL query, NULL or negative bound, bad arguments of the append itself.
SELECT pg_temp.try($$SELECT es.append_if(NULL, 0, 'x-2', NULL, es.event('T', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["a"]}]', NULL, 'x-2', NULL, es.event('T', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["a"]}]', -1, 'x-2', NULL, es.event('T', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["a"]}]', 0, NULL, NULL, es.event('T', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["a"]}]', 0, 'x-2', -1, es.event('T', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append_if('[{"tags": ["a"]}]', 0, 'x-2', NULL, NULL)$$);
SELECT pg_temp.try($$SELECT es.append_if('[]', 0, 'x-2', NULL, es.event('T', '{}'))$$);
SELECT count(*) FROM es.events WHERE stream_id = 'x-2';

-- Several append_if calls in one transaction make one decision: the
-- transaction's own events do not trip its later conditions.
SELECT coalesce(max(global_position), 0) AS last FROM es.read_events('[{"tags": ["team:t1"]}]') \gset
BEGIN;
SELECT es.append_if('[{"tags": ["team:t1"]}]', :last, 'member-m1', 0,
    es.event('Joined', '{}', tags => ARRAY['team:t1']));
SELECT es.append_if('[{"tags": ["team:t1"]}]', :last, 'member-m2', 0,
    es.event('Joined', '{}', tags => ARRAY['team:t1']));
-- also inside a savepoint
SAVEPOINT s;
SELECT es.append_if('[{"tags": ["team:t1"]}]', :last, 'member-m3', 0,
    es.event('Joined', '{}', tags => ARRAY['team:t1']));
RELEASE s;
COMMIT;
SELECT stream_id FROM es.read_events('[{"tags": ["team:t1"]}]');

-- A retry of a committed es.append_if (same event ids) is an idempotent
-- retry, as with es.append: same version, nothing written.
SELECT es.append_if('[{"tags": ["team:t2"]}]', 0, 'member-m4', 0,
    es.event('Joined', '{}', event_id => '00000000-0000-7000-8000-00000000d001', tags => ARRAY['team:t2']));
SELECT es.append_if('[{"tags": ["team:t2"]}]', 0, 'member-m4', 0,
    es.event('Joined', '{}', event_id => '00000000-0000-7000-8000-00000000d001', tags => ARRAY['team:t2']));
SELECT count(*) FROM es.events WHERE stream_id = 'member-m4';

-- REPEATABLE READ: the condition is checked under a fresh snapshot.
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT count(*) FROM es.events;
SELECT es.append_if('[{"tags": ["team:t3"]}]', 0, 'member-m5', 0,
    es.event('Joined', '{}', tags => ARRAY['team:t3']));
COMMIT;

-- Locks: an append holds a SHARE lock on the bucket of each type and tag
-- of its events (advisory locks with objsubid 17750), a condition an
-- EXCLUSIVE lock on one bucket per item with tags, and the escalation
-- lock (objsubid 17751) in SHARE mode.
BEGIN;
SELECT es.append('plain-1', NULL, es.event('Noted', '{}'), es.event('Noted', '{}'));
SELECT mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 17750 AND pid = pg_backend_pid() GROUP BY mode;
SELECT es.append_if('[{"tags": ["team:t4"]}]', 0, 'member-m6', 0,
    es.event('Joined', '{}', tags => ARRAY['team:t4', 'x']));
SELECT objsubid, mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND objsubid IN (17750, 17751) AND pid = pg_backend_pid()
GROUP BY objsubid, mode ORDER BY 1, 2;
ROLLBACK;
-- Past 32 buckets a transaction's appends take the escalation lock in ROW
-- EXCLUSIVE mode instead of more buckets: the lock table stays small.
BEGIN;
SELECT es.append('many-1', NULL, VARIADIC (SELECT array_agg(es.event('T', '{}',
    tags => (SELECT array_agg('tag-' || i || '-' || j) FROM generate_series(1, 10) j)))
    FROM generate_series(1, 10) i));
SELECT objsubid, mode, count(*) <= 32 AS capped FROM pg_locks
WHERE locktype = 'advisory' AND objsubid IN (17750, 17751) AND pid = pg_backend_pid()
GROUP BY objsubid, mode ORDER BY 1, 2;
ROLLBACK;
SELECT count(*) FROM es.read_events('[{"tags": ["tag-1-1"]}]');
-- The conditions of one transaction lock at most 256 buckets (they cannot
-- escalate): past that, 54000.
DO $$
DECLARE i int := 0;
BEGIN
    LOOP
        i := i + 1;
        PERFORM es.append_if(jsonb_build_array(jsonb_build_object('tags', jsonb_build_array('cap:' || i))),
                             0, 'cap-' || i, NULL, es.event('T', '{}'));
    END LOOP;
EXCEPTION WHEN program_limit_exceeded THEN
    RAISE NOTICE 'refused with 54000 after more than 256 conditions: %', i > 256;
END $$;
