-- A fold's memory does not grow with the stream: samples of the backend's
-- memory (pg_backend_memory_contexts) taken from inside a fold, by the
-- reducer function itself and by an upcaster function, at event 2,000 and
-- at event 20,000, differ by far less than the 18,000 events in between
-- would need if anything per event were kept.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

CREATE TABLE samples (path text, version bigint, bytes bigint);
CREATE FUNCTION sample(path text, version bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO samples SELECT path, version, sum(used_bytes) FROM pg_backend_memory_contexts
$$;
SELECT es.append('long-1', 0, VARIADIC (
    SELECT array_agg(es.event('Tick', jsonb_build_object('n', i, 'pad', repeat('x', 100)),
                              schema_version => 1) ORDER BY i)
    FROM generate_series(1, 20000) i));

-- the function reducer samples
CREATE FUNCTION count_ticks(state jsonb, event es.events) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF event.stream_version IN (2000, 20000) THEN
        PERFORM sample('function', event.stream_version);
    END IF;
    RETURN jsonb_build_object('n', (state->>'n')::bigint + 1);
END $$;
SELECT es.create_reducer('count_fn', '{"n": 0}', 'count_ticks(jsonb, es.events)');
SELECT es.fold('long-1', 'count_fn');

-- an upcaster samples while a rules reducer folds
CREATE FUNCTION tick_v2(data jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (data->>'n')::int IN (2000, 20000) THEN
        PERFORM sample('rules', (data->>'n')::bigint);
    END IF;
    RETURN data || '{"weight": 1}';
END $$;
SELECT es.create_upcaster('Tick', 1, fn => 'tick_v2(jsonb)');
SELECT es.create_reducer('count_rules', '{"n": 0}',
    rules => '{"Tick": [{"op": "count", "target": "$.n"}, {"op": "add", "target": "$.weight", "from": "$.data.weight"}, {"op": "append", "target": "$.\"last\"", "from": "$.data.n", "when": {"path": "$.data.n", "equals": 20000}}]}');
SELECT es.fold('long-1', 'count_rules');

SELECT path, count(*) AS samples,
       max(bytes) FILTER (WHERE version = 20000) - max(bytes) FILTER (WHERE version = 2000) < 256 * 1024
           AS flat
FROM samples GROUP BY path ORDER BY path;
