-- Issue 13, defect 8: internal errors from user input: rules over data that
-- is not an object, a huge jsonpath, a number-like string.
-- role: superuser
SELECT es.create_upcaster('D8', 1, '[{"op": "set", "target": "$.x", "value": 1, "if_exists": "keep"}]');
-- a restore can store any JSON as data
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, schema_version, data)
VALUES ('d8-1', 1, '00000000-0000-0000-0000-0000000000d8', 'D8', 1, '[1, 2]'),
       ('d8-1', 2, '00000000-0000-0000-0000-0000000000d9', 'D8', 1, '3');
SET ROLE fuzz;
SELECT * FROM es.read_stream('d8-1');
SELECT * FROM es.read_stream('d8-1', 2);
SELECT * FROM es.read_all();
SELECT es.fold_agg(ROW(1, 's', 1, '00000000-0000-0000-0000-000000000001', 'D8', 1, '[1]', NULL, now(), now(), '1', NULL)::es.events, 'x');
-- a 135 MB jsonpath
SELECT es.create_reducer('d8', rules => jsonb_build_object('*', jsonb_build_array(
    jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data' || repeat('.a', 67500000)))));
SELECT es.create_reducer('d8', rules => jsonb_build_object('*', jsonb_build_array(
    jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data.a', 'when', jsonb_build_object('path', '$.data' || repeat('[0]', 2000000), 'exists', true)))));
-- a number-like string in arithmetic
SELECT es.create_reducer('d8n', rules => '{"*": [{"op": "add", "target": "$.total", "from": "$.data.amount"}, {"op": "min", "target": "$.low", "from": "$.data.amount"}]}');
SELECT es.append('d8-2', NULL, es.event('E', '{"amount": "2024-01-01"}'));
SELECT es.fold('d8-2', 'd8n');
SELECT es.append('d8-3', NULL, es.event('E', '{"amount": "1e999999999999"}'));
SELECT es.fold('d8-3', 'd8n');
RESET ROLE;
