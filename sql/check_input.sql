-- What a careless or hostile client may send: each gets a clear error with
-- a fitting SQLSTATE, and nothing is written.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SELECT es.append('s-1', 0, es.event('Created', '{}'));

-- NULL where a value is required: 22004 (es.append is not STRICT)
SELECT pg_temp.try($$SELECT es.append(NULL, 0, es.event('E', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, VARIADIC NULL::es.new_event[])$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, NULL::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, es.event('E', '{}'), NULL)$$);
SELECT pg_temp.try($$SELECT es.event(NULL, '{}')$$);
SELECT pg_temp.try($$SELECT es.event('E', NULL)$$);
-- values built by hand are held to the same rules
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW(NULL, '{}', NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, es.event('E', '{}'), ROW('E', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('', '{}', NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '[1]', NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', '"x"', NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', NULL, NULL, NULL, 0)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', NULL, NULL, 'infinity', NULL)::es.new_event)$$);
-- a hand-built event without an id gets one
SELECT es.append('s-3', 0, ROW('E', '{}', NULL, NULL, NULL, NULL)::es.new_event);
SELECT event_id IS NOT NULL AS has_id, schema_version, occurred_at = recorded_at AS occurred_now
FROM es.events WHERE stream_id = 's-3';

-- Empty strings, negative versions, absurd sizes: 22023
SELECT pg_temp.try($$SELECT es.append('', 0, es.event('E', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append(repeat('x', 1025), 0, es.event('E', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('s-2', -1, es.event('E', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, VARIADIC '{}'::es.new_event[])$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, VARIADIC ARRAY[ARRAY[es.event('E', '{}')]])$$);
SELECT pg_temp.try($$SELECT es.event('', '{}')$$);
SELECT pg_temp.try($$SELECT es.event(repeat('t', 1025), '{}')$$);
SELECT pg_temp.try($$SELECT es.event('E', '[]')$$);
SELECT pg_temp.try($$SELECT es.event('E', '42')$$);
SELECT pg_temp.try($$SELECT es.event('E', 'null')$$);
SELECT pg_temp.try($$SELECT es.event('E', '{}', '[]')$$);
SELECT pg_temp.try($$SELECT es.event('E', '{}', schema_version => 0)$$);
SELECT pg_temp.try($$SELECT es.event('E', '{}', occurred_at => '-infinity')$$);
-- the same id twice in one batch
SELECT pg_temp.try($$SELECT es.append('s-2', 0,
    es.event('E', '{}', event_id => '00000000-0000-7000-8000-000000000009'),
    es.event('F', '{}'),
    es.event('G', '{}', event_id => '00000000-0000-7000-8000-000000000009'))$$);
-- a stream id of exactly the limit is fine; multibyte text counts bytes
SELECT es.append(repeat('x', 1024), 0, es.event('E', '{}'));
SELECT pg_temp.try($$SELECT es.append(repeat('é', 513), 0, es.event('E', '{}'))$$);
-- unusual but valid text is stored as given
SELECT es.append(E'weird\tstream -- ''"; DROP TABLE es.events', 0,
                 es.event(E'type with\nnewline', '{"k": "\\u0001"}'));
SELECT stream_id, event_type FROM es.events WHERE stream_id LIKE 'weird%';

-- Reading: NULLs and negative bounds
SELECT pg_temp.try($$SELECT es.stream_version(NULL)$$);
SELECT pg_temp.try($$SELECT es.stream_version('')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('s-1', -1)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('s-1', 1, -5)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('s-1', 1, 5, NULL)$$);

-- Nothing of the failed calls was written, and the session goes on.
SELECT left(stream_id, 40) AS stream_id, length(stream_id), version
FROM es.streams ORDER BY stream_id COLLATE "C";
SELECT count(*) FROM es.events;
