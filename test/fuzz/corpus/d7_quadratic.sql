-- Issue 13, defect 7: rules with 100,000 targets, a state of 100,000 keys,
-- upcaster rules over 100,000 fields, under a 1 s statement_timeout.
-- role: fuzz
SET statement_timeout = '1s';
CREATE TABLE fz.d7 AS
SELECT ('{"*": [' || string_agg(format('{"op": "set", "target": "$.\"f%s\"", "value": %s}', i, i), ',') || ']}')::jsonb AS r,
       ('[' || string_agg(format('{"op": "set", "target": "$.f%s", "value": %s, "if_exists": "keep"}', i, i), ',') || ']')::jsonb AS u,
       jsonb_object_agg('k' || i, i) AS state
FROM generate_series(1, 100000) i;
SELECT es.create_reducer('d7', rules => r) FROM fz.d7;
SELECT es.create_reducer('d7s', state, rules => '{"*": [{"op": "merge", "from": "$.data"}]}') FROM fz.d7;
SELECT es.append('d7-1', NULL, es.event('E', state)) FROM fz.d7;
SELECT length(es.fold('d7-1', 'd7')::text);
SELECT length(es.fold('d7-1', 'd7s')::text);
SELECT es.create_upcaster('D7', 1, u) FROM fz.d7;
SELECT length(data::text) FROM fz.d7, es.upcast('D7', 1, state);
SET statement_timeout = '100ms';
SELECT length(es.fold('d7-1', 'd7')::text);
SELECT length(data::text) FROM fz.d7, es.upcast('D7', 1, state);
