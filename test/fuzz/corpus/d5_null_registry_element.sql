-- Issue 13, defect 5: a NULL element in a registry's event_types array (a
-- restore or a manual edit); every append of every role must survive it.
-- role: superuser
CREATE FUNCTION fz.d5_h(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT es.create_projection('d5', 'fz.d5_h(es.events)', event_types => ARRAY['A', 'B']);
SELECT es.create_projection('d5a', 'fz.d5_h(es.events)', event_types => ARRAY['A', 'B'], async => true);
SELECT es.create_subscription('d5', event_types => ARRAY['A']);
UPDATE es.projections_registry SET event_types = ARRAY['A', NULL] WHERE name IN ('d5', 'd5a');
UPDATE es.subscriptions_registry SET event_types = ARRAY[NULL]::text[], categories = ARRAY[NULL, 'x'] WHERE name = 'd5';
SET ROLE fuzz;
SELECT es.append('d5-1', NULL, es.event('A', '{}'));
SELECT es.append('d5-1', NULL, es.event('C', '{}'));
RESET ROLE;
SELECT es.run_projections();
SELECT count(*) FROM es.poll('d5');
SELECT * FROM es.projections;
SELECT * FROM es.subscriptions;
SELECT es.rebuild_projection('d5');
UPDATE es.projections_registry SET event_types = '{}' WHERE name = 'd5';
SELECT es.append('d5-1', NULL, es.event('A', '{}'));
UPDATE es.projections_registry SET tables = ARRAY[NULL]::regclass[] WHERE name = 'd5';
SELECT es.rebuild_projection('d5');
