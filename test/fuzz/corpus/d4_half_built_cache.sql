-- Issue 13, defect 4: a reducer whose stored rules fail to compile (a
-- restore, a manual edit): the first fold fails cleanly, and so must the
-- next one in the same session.
-- role: superuser
SELECT es.create_reducer('d4', rules => '{"E": [{"op": "count", "target": "$.n"}]}');
SELECT es.append('d4-1', NULL, es.event('E', '{}'));
UPDATE es.reducers_registry SET rules = '{"E": [{"op": "count", "target": "$.n", "bogus": 1}]}' WHERE name = 'd4';
SELECT es.fold('d4-1', 'd4');
SELECT es.fold('d4-1', 'd4');
SELECT es.fold_agg(e, 'd4' ORDER BY stream_version) FROM es.read_stream('d4-1') e;
UPDATE es.reducers_registry SET rules = '[]' WHERE name = 'd4';
SELECT es.fold('d4-1', 'd4');
SELECT es.fold('d4-1', 'd4');
UPDATE es.reducers_registry SET initial_state = '[1]', rules = '{"E": [{"op": "count", "target": "$.n"}]}' WHERE name = 'd4';
SELECT es.fold('d4-1', 'd4');
SELECT es.fold('d4-1', 'd4');
