-- Issue 13, defect 2: a registered function dropped and created again
-- with the same arguments and another return type: an upcaster function, on every read path.
-- role: fuzz
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
