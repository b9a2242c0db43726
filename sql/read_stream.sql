-- es.stream_version and es.read_stream
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SELECT es.append('order-1', 0, VARIADIC (
    SELECT array_agg(es.event('Step', jsonb_build_object('n', i)) ORDER BY i)
    FROM generate_series(1, 5) i));
SELECT es.append('order-2', 0, es.event('Other', '{}'));

SELECT es.stream_version('order-1'), es.stream_version('order-2'),
       es.stream_version('nothing-here');

-- forward, whole stream
SELECT stream_version, event_type, data FROM es.read_stream('order-1');
-- forward from an inclusive bound, at most two
SELECT stream_version FROM es.read_stream('order-1', 2, 2);
-- backwards from the end, and from an inclusive bound
SELECT stream_version FROM es.read_stream('order-1', backwards => true);
SELECT stream_version FROM es.read_stream('order-1', 4, 3, true);
-- bounds past either end, zero count, unknown stream
SELECT count(*) FROM es.read_stream('order-1', 6);
SELECT count(*) FROM es.read_stream('order-1', 0);
SELECT count(*) FROM es.read_stream('order-1', 0, 0);
SELECT count(*) FROM es.read_stream('order-1', 0, backwards => true);
SELECT count(*) FROM es.read_stream('nothing-here');
-- all the columns of es.events come back
SELECT e.* IS NOT DISTINCT FROM r.* AS same_rows
FROM es.read_stream('order-2') r JOIN es.events e USING (global_position);

-- A long stream is read through a cursor in batches.
SELECT es.append('long-1', 0, VARIADIC (
    SELECT array_agg(es.event('Tick', jsonb_build_object('n', i)) ORDER BY i)
    FROM generate_series(1, 5000) i));
SELECT count(*), sum((data->>'n')::int), bool_and((data->>'n')::int = stream_version)
FROM es.read_stream('long-1');
SELECT stream_version FROM es.read_stream('long-1', backwards => true) LIMIT 1;

-- Reading sees appends earlier in the same transaction.
BEGIN;
SELECT es.append('order-2', 1, es.event('Other', '{}'));
SELECT es.stream_version('order-2'), (SELECT count(*) FROM es.read_stream('order-2'));
ROLLBACK;
