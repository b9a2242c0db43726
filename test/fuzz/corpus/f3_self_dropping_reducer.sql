-- A PL/pgSQL reducer that drops its own function: PostgreSQL's own XX000
-- ("cache lookup failed") when it is called again, unless the fold notices.
-- role: fuzz
CREATE FUNCTION fz.f3_r(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql
    AS $f$ BEGIN EXECUTE 'DROP FUNCTION IF EXISTS fz.f3_r(jsonb, es.events) CASCADE'; RETURN s; END $f$;
SELECT es.create_reducer('f3', apply => 'fz.f3_r(jsonb, es.events)');
SELECT es.append('f3-1', NULL, es.event('E', '{}'), es.event('E', '{}'), es.event('E', '{}'));
SELECT es.fold('f3-1', 'f3');
SELECT es.fold_agg(e, 'f3' ORDER BY stream_version) FROM es.read_stream('f3-1') e;
