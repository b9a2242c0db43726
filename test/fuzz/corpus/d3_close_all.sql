-- Issue 13, defect 3: user code that runs CLOSE ALL (or closes a cursor by
-- name) between rows, on every path that reads through a cursor.
-- role: fuzz
CREATE FUNCTION fz.d3_close() RETURNS void LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    EXECUTE 'CLOSE ALL';
    FOR r IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP
        EXECUTE format('CLOSE %I', r.name);
    END LOOP;
END $$;
CREATE FUNCTION fz.d3_up(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN PERFORM fz.d3_close(); RETURN d; END $$;
CREATE FUNCTION fz.d3_h(e es.events) RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM fz.d3_close(); END $$;
CREATE FUNCTION fz.d3_apply(s jsonb, e es.events) RETURNS jsonb LANGUAGE plpgsql AS $$ BEGIN PERFORM fz.d3_close(); RETURN s; END $$;
SELECT es.create_upcaster('D3', 1, fn => 'fz.d3_up(jsonb)');
SELECT es.create_reducer('d3', apply => 'fz.d3_apply(jsonb, es.events)');
SELECT es.create_subscription('d3');
SELECT es.append('d3-' || i, NULL, es.event('D3', '{}', schema_version => 1), es.event('D3', '{}', schema_version => 1), es.event('E', '{}'))
FROM generate_series(1, 3) i;
SELECT count(*) FROM es.read_stream('d3-1');
SELECT count(*) FROM es.read_stream('d3-1', backwards => true);
SELECT count(*) FROM es.read_all();
SELECT count(*) FROM es.poll('d3');
SELECT es.fold('d3-1', 'd3');
SELECT es.fold_agg(e, 'd3' ORDER BY stream_version) FROM es.read_stream('d3-2') e;
SELECT es.create_projection('d3_inline', 'fz.d3_h(es.events)');
SELECT es.create_projection('d3_async', 'fz.d3_h(es.events)', async => true);
SELECT es.rebuild_projection('d3_inline');
SELECT es.append('d3-9', NULL, es.event('D3', '{}', schema_version => 1));
SELECT es.run_projections();
-- FETCH and MOVE by name on the extension's cursor, past one batch
CREATE FUNCTION fz.d3_move(d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    FOR r IN SELECT name FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%' LOOP
        EXECUTE format('MOVE FORWARD 10 IN %I', r.name);
        EXECUTE format('FETCH 1 FROM %I', r.name);
    END LOOP;
    RETURN d;
END $$;
SELECT es.create_upcaster('D3m', 1, fn => 'fz.d3_move(jsonb)');
SELECT es.append('d3-long', NULL, VARIADIC (SELECT array_agg(es.event('D3m', '{}', schema_version => 1)) FROM generate_series(1, 1500)));
SELECT count(*) FROM es.read_stream('d3-long');
SELECT count(*) FROM es.read_all(0, 10000);
SELECT count(*) FROM es.poll('d3', 10000);
SELECT es.rebuild_projection('d3_inline');
