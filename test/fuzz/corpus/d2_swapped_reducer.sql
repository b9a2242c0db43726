-- Issue 13, defect 2: a registered function dropped and created again
-- with the same arguments and another return type: a reducer function.
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
