-- Edges of consistency boundaries, kept as a corpus entry: extreme
-- positions and counts, queries at every limit, hand-built events and rows
-- with absurd tags, conditions past the caps.  Every statement must end in
-- a clean error or a result.
-- role: fuzz
SELECT es.append('f4-1', NULL, es.event('E', '{}', tags => ARRAY['t:1']));
SELECT count(*) FROM es.read_events('[{"tags": ["t:1"]}]', 9223372036854775807);
SELECT count(*) FROM es.read_events('[{"tags": ["t:1"]}]', 9223372036854775806, 9223372036854775807);
SELECT count(*) FROM es.read_events('[{"types": ["E"]}]', 0, 1);
SELECT es.append_if('[{"tags": ["t:1"]}]', 9223372036854775807, 'f4-2', NULL, es.event('E', '{}', tags => ARRAY['t:1']));
SELECT es.append_if('[{"tags": ["t:1"]}]', 0, 'f4-3', 9223372036854775807, es.event('E', '{}'));
SELECT count(*) FROM es.read_events((SELECT jsonb_agg(jsonb_build_object('tags', (SELECT jsonb_agg('t' || i || '-' || j) FROM generate_series(1, 32) i), 'types', (SELECT jsonb_agg('T' || i) FROM generate_series(1, 32) i))) FROM generate_series(1, 32) j));
SELECT count(*) FROM es.read_events((SELECT jsonb_agg(jsonb_build_object('types', (SELECT jsonb_agg('T' || i || '-' || j) FROM generate_series(1, 32) i))) FROM generate_series(1, 32) j));
SELECT count(*) FROM es.read_events('[{"tags": [{"a": 1}]}]');
SELECT count(*) FROM es.read_events('[{"tags": ["a"], "tags": ["b"]}]');
SELECT count(*) FROM es.read_events(jsonb_build_array(jsonb_build_object('types', jsonb_build_array(repeat('T', 2000)))));
SELECT es.append('f4-4', NULL, ROW('E', '{}', NULL, NULL, NULL, NULL, '{}')::es.new_event);
SELECT es.append('f4-4', NULL, ROW('E', '{}', NULL, NULL, NULL, NULL, '[0:1]={a,b}')::es.new_event);
SELECT es.append('f4-4', NULL, ROW('E', '{}', NULL, NULL, NULL, NULL, ARRAY[repeat('x', 100000)])::es.new_event);
SELECT es.append('f4-5', NULL, VARIADIC (SELECT array_agg(es.event('E', '{}', tags => (SELECT array_agg('b' || i || '-' || j) FROM generate_series(1, 32) j))) FROM generate_series(1, 100) i));
SELECT es.create_reducer('f4', rules => '{"*": [{"op": "count", "target": "$.n"}]}');
SELECT es.fold_agg(ROW(1, 's-1', 1, gen_random_uuid(), 'E', 1, '{}', NULL, now(), now(), '1', '{{a},{b}}')::es.events, 'f4');
SELECT es.fold_agg(ROW(1, 's-1', 1, gen_random_uuid(), 'E', 1, '{}', NULL, now(), now(), '1', ARRAY[NULL]::text[])::es.events, 'f4');
BEGIN;
SELECT es.append('f4-6', NULL, VARIADIC (SELECT array_agg(es.event('E', '{}', tags => ARRAY['c' || i])) FROM generate_series(1, 50) i));
SELECT es.append_if('[{"tags": ["c1"]}]', 0, 'f4-7', NULL, es.event('E', '{}', tags => ARRAY['c1']));
SELECT count(*) FROM es.read_events('[{"tags": ["c1"]}]');
COMMIT;
