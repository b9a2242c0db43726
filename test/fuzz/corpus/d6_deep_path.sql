-- Issue 13, defect 6: an upcaster rule with a 60,000-key path, and deeply
-- nested data on the read paths.
-- role: fuzz
SELECT es.create_upcaster('D6', 1, jsonb_build_array(jsonb_build_object('op', 'set',
    'target', '$' || repeat('.k', 15000), 'value', 1, 'if_exists', 'keep')));
SELECT es.append('d6-1', NULL, es.event('D6', '{}', schema_version => 1));
SELECT * FROM es.upcast('D6', 1, '{}');
SELECT count(*) FROM es.read_stream('d6-1');
SELECT count(*) FROM es.read_all();
SELECT es.create_upcaster('D6m', 1, jsonb_build_array(jsonb_build_object('op', 'move', 'from', '$.data.a',
    'target', '$' || repeat('.k', 60000))));
SELECT * FROM es.upcast('D6m', 1, '{"a": 1}');
-- nested data, as deep as jsonb input allows
SELECT es.create_reducer('d6', rules => '{"*": [{"op": "merge", "from": "$.data"}, {"op": "set", "target": "$.x", "from": "$.data.**"}]}');
SELECT es.append('d6-2', NULL, es.event('E', (repeat('{"a": ', 5000) || '1' || repeat('}', 5000))::jsonb));
SELECT length(es.fold('d6-2', 'd6')::text);
SELECT es.create_upcaster('E', 1, '[{"op": "move", "from": "$.data.a", "target": "$.b"}]');
SELECT es.append('d6-3', NULL, es.event('E', (repeat('{"a": ', 5000) || '1' || repeat('}', 5000))::jsonb, schema_version => 1));
SELECT length(data::text) FROM es.read_stream('d6-3');
