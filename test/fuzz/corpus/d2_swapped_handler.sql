-- Issue 13, defect 2: a registered function dropped and created again
-- with the same arguments and another return type: a projection handler.
-- role: fuzz
CREATE TABLE fz.d2_seen (n int);
CREATE FUNCTION fz.d2_h(e es.events) RETURNS void LANGUAGE sql AS $$ INSERT INTO fz.d2_seen VALUES (1) $$;
SELECT es.create_projection('d2', 'fz.d2_h(es.events)');
DROP FUNCTION fz.d2_h(es.events);
CREATE FUNCTION fz.d2_h(e es.events) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT es.append('d2-3', NULL, es.event('E', '{}'));
SELECT es.rebuild_projection('d2');
CREATE FUNCTION fz.d2_h2(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT $$;
SELECT es.create_projection('d2a', 'fz.d2_h2(es.events)', async => true);
DROP FUNCTION fz.d2_h2(es.events);
CREATE FUNCTION fz.d2_h2(e es.events) RETURNS SETOF text LANGUAGE sql AS $$ SELECT 'x' UNION ALL SELECT 'y' $$;
SELECT es.run_projections();
SELECT es.append('d2-3', NULL, es.event('E', '{}'));
