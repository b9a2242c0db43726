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
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW(NULL, '{}', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, es.event('E', '{}'), ROW('E', NULL, NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('', '{}', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '[1]', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', '"x"', NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', NULL, NULL, NULL, 0, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('s-2', 0, ROW('E', '{}', NULL, NULL, 'infinity', NULL, NULL)::es.new_event)$$);
-- a hand-built event without an id gets one
SELECT es.append('s-3', 0, ROW('E', '{}', NULL, NULL, NULL, NULL, NULL)::es.new_event);
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

-- es.fold_agg over rows built by hand (ROW(...)::es.events): any column may
-- be NULL or absurd, and every field the fold reads is checked first, for
-- rules reducers and function reducers alike: 22004 or 22023, no crash.
SELECT es.create_reducer('some_rules_reducer', '{}', rules => $${
  "*": [{"op": "set", "target": "$.type", "from": "$.event_type"},
        {"op": "set", "target": "$.stream", "from": "$.stream_id"},
        {"op": "set", "target": "$.x", "from": "$.data.x"},
        {"op": "set", "target": "$.at", "from": "$.occurred_at"}],
  "E": [{"op": "add", "target": "$.n", "value": 1, "when": {"path": "$.data.to", "equals_stream_id": true}}]
}$$);
CREATE FUNCTION pg_temp.count_events(state jsonb, e es.events) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('n', coalesce((state->>'n')::int, 0) + 1) $$;
SELECT es.create_reducer('some_function_reducer', '{}', 'pg_temp.count_events'::regproc);
-- the row of the report (event_type NULL)
SELECT pg_temp.try($$SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001',NULL,1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'some_rules_reducer')$$);
SELECT pg_temp.try($$SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001',NULL,1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'some_function_reducer')$$);
-- a valid hand-built row folds
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{"x": 5, "to": "s-1"}',NULL,
                       '2024-01-01 00:00+00','2024-01-01 00:00+00','1', NULL)::es.events, 'some_rules_reducer') - 'at' AS folded;
-- every column NULL in turn (metadata may be NULL), with both kinds of reducer
WITH base(row) AS (
    SELECT '{"global_position": 1, "stream_id": "s-1", "stream_version": 1,
             "event_id": "00000000-0000-0000-0000-000000000001", "event_type": "E",
             "schema_version": 1, "data": {"x": 1}, "metadata": {},
             "occurred_at": "2024-01-01T00:00:00+00:00", "recorded_at": "2024-01-01T00:00:00+00:00",
             "transaction_id": "1"}'::jsonb)
SELECT col, reducer,
       pg_temp.try(format('SELECT es.fold_agg(jsonb_populate_record(NULL::es.events, %L), %L)',
                          row - col, reducer)) AS result
FROM base,
     unnest(ARRAY['global_position', 'stream_id', 'stream_version', 'event_id', 'event_type',
                  'schema_version', 'data', 'metadata', 'occurred_at', 'recorded_at',
                  'transaction_id']) WITH ORDINALITY AS c(col, ord),
     unnest(ARRAY['some_rules_reducer', 'some_function_reducer']) AS r(reducer)
ORDER BY ord, reducer;
-- absurd values
WITH base(row) AS (
    SELECT '{"global_position": 1, "stream_id": "s-1", "stream_version": 1,
             "event_id": "00000000-0000-0000-0000-000000000001", "event_type": "E",
             "schema_version": 1, "data": {"x": 1}, "metadata": null,
             "occurred_at": "2024-01-01T00:00:00+00:00", "recorded_at": "2024-01-01T00:00:00+00:00",
             "transaction_id": "1"}'::jsonb)
SELECT change, pg_temp.try(format('SELECT es.fold_agg(jsonb_populate_record(NULL::es.events, %L), %L)',
                                  row || change::jsonb, 'some_rules_reducer')) AS result
FROM base, unnest(ARRAY[
    '{"stream_id": ""}', '{"event_type": ""}', '{"stream_version": 0}',
    '{"stream_version": -5}', '{"schema_version": 0}', '{"global_position": -1}',
    '{"data": [1, 2]}', '{"data": "x"}', '{"data": null}', '{"metadata": [1]}',
    '{"occurred_at": "infinity"}', '{"recorded_at": "-infinity"}']) WITH ORDINALITY AS c(change, ord)
ORDER BY ord;
SELECT pg_temp.try(format('SELECT es.fold_agg(ROW(1, %L, 1, es.uuid_v7(), ''E'', 1, ''{}'', NULL, now(), now(), ''1'', NULL)::es.events, ''some_rules_reducer'')',
                          repeat('x', 1025)));
SELECT pg_temp.try(format('SELECT es.fold_agg(ROW(1, ''s-1'', 1, es.uuid_v7(), %L, 1, ''{}'', NULL, now(), now(), ''1'', NULL)::es.events, ''some_function_reducer'')',
                          repeat('t', 1025)));

-- Registry names share one check: not null, not empty, under 64 bytes.
SELECT pg_temp.try($$SELECT es.create_subscription(repeat('s', 64))$$);
SELECT pg_temp.try($$SELECT es.create_subscription('')$$);
SELECT pg_temp.try($$SELECT es.drop_projection(repeat('p', 64))$$);
SELECT pg_temp.try($$SELECT es.drop_reducer(NULL)$$);
