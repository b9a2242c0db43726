-- Issue 13, defect 2: a registered function dropped and created again
-- with the same arguments and another return type.
-- role: fuzz
CREATE FUNCTION fz.d2_apply(s jsonb, e es.events) RETURNS jsonb LANGUAGE sql AS $$ SELECT s $$;
SELECT es.create_reducer('d2', apply => 'fz.d2_apply(jsonb, es.events)');
SELECT es.append('d2-1', NULL, es.event('E', '{}'));
SELECT es.fold('d2-1', 'd2');
DROP FUNCTION fz.d2_apply(jsonb, es.events);
CREATE FUNCTION fz.d2_apply(s jsonb, e es.events) RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;
SELECT es.fold('d2-1', 'd2');
SELECT es.fold_agg(e, 'd2' ORDER BY stream_version) FROM es.read_stream('d2-1') e;
DROP FUNCTION fz.d2_apply(jsonb, es.events);
CREATE FUNCTION fz.d2_apply(s jsonb, e es.events) RETURNS text LANGUAGE sql AS $$ SELECT 'not jsonb' $$;
SELECT es.fold('d2-1', 'd2');
DROP FUNCTION fz.d2_apply(jsonb, es.events);
CREATE FUNCTION fz.d2_apply(s jsonb, e es.events) RETURNS SETOF jsonb LANGUAGE sql AS $$ SELECT s UNION ALL SELECT s $$;
SELECT es.fold('d2-1', 'd2');
-- the same with an upcaster function, on every read path
CREATE FUNCTION fz.d2_up(d jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT d $$;
SELECT es.create_upcaster('D2', 1, fn => 'fz.d2_up(jsonb)');
SELECT es.append('d2-2', NULL, es.event('D2', '{}', schema_version => 1));
DROP FUNCTION fz.d2_up(jsonb);
CREATE FUNCTION fz.d2_up(d jsonb) RETURNS int LANGUAGE sql AS $$ SELECT 7 $$;
SELECT * FROM es.read_stream('d2-2');
SELECT * FROM es.read_all();
SELECT * FROM es.upcast('D2', 1, '{}');
DROP FUNCTION fz.d2_up(jsonb);
CREATE FUNCTION fz.d2_up(d jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;
SELECT * FROM es.read_stream('d2-2');
-- and a projection handler
CREATE TABLE fz.d2_seen (n int);
CREATE FUNCTION fz.d2_h(e es.events) RETURNS void LANGUAGE sql AS $$ INSERT INTO fz.d2_seen VALUES (1) $$;
SELECT es.create_projection('d2', 'fz.d2_h(es.events)');
DROP FUNCTION fz.d2_h(es.events);
CREATE FUNCTION fz.d2_h(e es.events) RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;
SELECT es.append('d2-3', NULL, es.event('E', '{}'));
SELECT es.rebuild_projection('d2');
