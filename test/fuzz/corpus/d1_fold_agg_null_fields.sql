-- Issue 13, defect 1: es.fold_agg over hand-built rows whose fields are
-- NULL or absurd, with a rules reducer and a function reducer.
-- role: fuzz
SELECT es.create_reducer('d1_rules', rules => '{"E": [{"op": "count", "target": "$.n"}], "*": [{"op": "set", "target": "$.v", "from": "$.stream_version"}, {"op": "set", "target": "$.id", "from": "$.stream_id", "when": {"path": "$.data.to", "equals_stream_id": true}}]}');
CREATE FUNCTION fz.d1_apply(s jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS $$ SELECT s || jsonb_build_object('t', e.event_type) $$;
SELECT es.create_reducer('d1_fn', apply => 'fz.d1_apply(jsonb, es.events)');
-- the reproducer of the issue
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001',NULL,1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
-- every field NULL in turn
SELECT es.fold_agg(ROW(NULL,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,NULL,1,'00000000-0000-0000-0000-000000000001','E',1,'{"to": "s-1"}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',NULL,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,NULL,'E',1,'{}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',NULL,'{}',NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,NULL,NULL,now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{}','[1]',now(),now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,NULL,now(),'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),NULL,'1', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),now(),NULL, NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL, NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL, NULL)::es.events, 'd1_fn');
SELECT es.fold_agg(ROW(1,'s-1',1,'00000000-0000-0000-0000-000000000001',NULL,NULL,NULL,NULL,NULL,NULL,NULL, NULL)::es.events, 'd1_fn');
-- absurd values
SELECT es.fold_agg(ROW(-1,'',-9223372036854775808,'00000000-0000-0000-0000-000000000000','',-2147483648,'{}',NULL,'infinity','-infinity','0', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(ROW(9223372036854775807,repeat('x', 100000),9223372036854775807,'ffffffff-ffff-ffff-ffff-ffffffffffff',repeat('E', 100000),2147483647,'[]','"x"',now(),now(),'18446744073709551615', NULL)::es.events, 'd1_rules');
SELECT es.fold_agg(e, 'd1_rules' ORDER BY v) FROM (VALUES (ROW(1,'s-1',2,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),now(),'1', NULL)::es.events, 2),
                                                    (ROW(1,'s-2',1,'00000000-0000-0000-0000-000000000001','E',1,'{}',NULL,now(),now(),'1', NULL)::es.events, 1)) t(e, v);
