-- The one rule language of reducers and upcasters (docs/rules.md): paths
-- mean what PostgreSQL's jsonpath means, the op replace, nested targets,
-- set-if-absent, and every documented error code.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';

-- A lax key chain unwraps arrays, as jsonb_path_query_first does; a strict
-- one finds nothing there.
SELECT es.create_reducer('paths', rules => $$
{"*": [{"op": "set", "target": "$.lax", "from": "$.data.a.b", "if_missing": "skip"},
       {"op": "set", "target": "$.strict", "from": "strict $.data.a.b", "if_missing": "skip"},
       {"op": "set", "target": "$.plain", "from": "$.data.c.d", "if_missing": "skip"},
       {"op": "set", "target": "$.strict_plain", "from": "strict $.data.c.d", "if_missing": "skip"},
       {"op": "set", "target": "$.scalar", "from": "$.data.e.f", "if_missing": "skip"}]}
$$);
SELECT es.append('paths-1', 0, es.event('E', '{"a": [{"b": 1}, {"b": 2}], "c": {"d": 3}, "e": 4}'));
SELECT es.fold('paths-1', 'paths');
SELECT jsonb_path_query_first(d, '$.data.a.b') AS lax,
       jsonb_path_query_first(d, 'strict $.data.a.b', silent => true) AS strict
FROM (SELECT jsonb_build_object('data', data) AS d FROM es.events WHERE stream_id = 'paths-1') e;

-- Randomized differential test: many small documents and key chains, the
-- rules' fast path against jsonb_path_query_first: no differences.
SELECT setseed(0.16);
CREATE FUNCTION pg_temp.rand_doc(depth int) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r float := random();
    res jsonb;
BEGIN
    IF depth = 0 OR r < 0.25 THEN
        RETURN (ARRAY['1', '"x"', 'null', 'true', '2.5', '[]', '{}'])[1 + floor(random() * 7)::int]::jsonb;
    ELSIF r < 0.5 THEN
        SELECT coalesce(jsonb_agg(pg_temp.rand_doc(depth - 1)), '[]') INTO res
        FROM generate_series(1, floor(random() * 3)::int);
    ELSE
        SELECT coalesce(jsonb_object_agg(k, pg_temp.rand_doc(depth - 1)), '{}') INTO res
        FROM (SELECT DISTINCT (ARRAY['a', 'b', 'c'])[1 + floor(random() * 3)::int] AS k
              FROM generate_series(1, 1 + floor(random() * 3)::int)) s;
    END IF;
    RETURN res;
END $$;
CREATE TEMP TABLE diff_paths AS
SELECT i, (ARRAY['', 'lax ', 'strict '])[1 + floor(random() * 3)::int] || '$.data' ||
          (SELECT string_agg('.' || (ARRAY['a', 'b', 'c'])[1 + floor(random() * 3)::int], '')
           FROM generate_series(1, 1 + floor(random() * 3)::int + i * 0)) AS path
FROM generate_series(1, 40) i;
SELECT es.create_reducer('diff', rules => jsonb_build_object('*',
    (SELECT jsonb_agg(jsonb_build_object('op', 'set', 'target', '$.p' || i, 'from', path,
                                         'if_missing', 'skip') ORDER BY i)
     FROM diff_paths)));
SELECT count(*) AS appended FROM (
    SELECT es.append('diff-' || n, 0, es.event('D', jsonb_build_object(
        'a', pg_temp.rand_doc(3), 'b', pg_temp.rand_doc(3), 'c', pg_temp.rand_doc(3))))
    FROM generate_series(1, 300) n) a;
WITH folded AS (
    SELECT e.data, es.fold(e.stream_id, 'diff') AS state
    FROM es.events e WHERE e.event_type = 'D'
), compared AS (
    SELECT p.path, f.data, f.state -> ('p' || p.i) AS rules,
           nullif(jsonb_path_query_first(jsonb_build_object('data', f.data), p.path::jsonpath,
                                         silent => true), 'null') AS postgres
    FROM folded f CROSS JOIN diff_paths p
)
SELECT count(*) AS comparisons,
       count(*) FILTER (WHERE rules IS DISTINCT FROM postgres) AS differences,
       count(*) FILTER (WHERE postgres IS NOT NULL) > 1000 AS many_found,
       count(*) FILTER (WHERE postgres IS NOT NULL AND path NOT LIKE 'strict%' AND
                        data #> string_to_array(substr(path, strpos(path, '$.data') + 7), '.')
                        IS DISTINCT FROM postgres) > 20 AS many_unwrapped
FROM compared;

-- replace: a summary event replaces the whole state
SELECT es.create_reducer('summarized', '{"balance": 0}', rules => $$
{"Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"},
               {"op": "count", "target": "$.deposits"}],
 "Summarized": [{"op": "replace", "from": "$.data.state"}],
 "*": [{"op": "set", "target": "$.version", "from": "$.stream_version"}]}
$$);
SELECT es.append('sum-1', 0, es.event('Deposited', '{"amount": 10}'),
                             es.event('Deposited', '{"amount": 5}'),
                             es.event('Summarized', '{"state": {"balance": 100, "note": "carried over"}}'),
                             es.event('Deposited', '{"amount": 1.5}'));
SELECT es.fold('sum-1', 'summarized');
SELECT es.append('sum-2', 0, es.event('Summarized', '{"state": [1]}'));
SELECT pg_temp.try($$SELECT es.fold('sum-2', 'summarized')$$);

-- nested targets: ops on a field inside an object of the state
SELECT es.create_reducer('nested', rules => $$
{"*": [{"op": "set", "target": "$.address.city", "from": "$.data.city", "if_missing": "skip"},
       {"op": "add", "target": "$.totals.amount", "from": "$.data.amount", "default": 0},
       {"op": "count", "target": "$.totals.events"},
       {"op": "append", "target": "$.log.types", "from": "$.event_type"},
       {"op": "set", "target": "$.first.city", "from": "$.data.city", "if_exists": "keep", "if_missing": "skip"},
       {"op": "remove", "target": "$.address.zip"}]}
$$);
SELECT es.append('nested-1', 0, es.event('Moved', '{"city": "Lyon", "amount": 2}'),
                                es.event('Moved', '{"city": "Nantes", "amount": 3.25}'),
                                es.event('Paid', '{"amount": 1}'));
SELECT es.fold('nested-1', 'nested');
SELECT es.create_reducer('nested_bad', '{"address": "none"}',
    rules => '{"*": [{"op": "set", "target": "$.address.city", "value": "x"}]}');
SELECT es.append('nested-2', 0, es.event('E', '{}'));
SELECT pg_temp.try($$SELECT es.fold('nested-2', 'nested_bad')$$);

-- upcasters: the same language over the event's data
SELECT es.create_upcaster('Old', 1, $$[
  {"op": "move", "from": "$.data.amt", "target": "$.amount"},
  {"op": "set", "target": "$.currency", "value": "EUR", "if_exists": "keep"},
  {"op": "set", "target": "$.first_item", "from": "$.data.items.sku", "if_missing": "skip"},
  {"op": "set", "target": "$.strict_item", "from": "strict $.data.items.sku", "default": "none"},
  {"op": "set", "target": "$.meta.big", "value": true, "when": {"path": "$.data.amount ? (@ > 100)", "exists": true}},
  {"op": "remove", "target": "$.legacy"},
  {"op": "rename_type", "value": "New"}
]$$);
SELECT * FROM es.upcast('Old', 1, '{"amt": 150, "currency": "USD", "items": [{"sku": "a"}, {"sku": "b"}], "legacy": 1}');
SELECT * FROM es.upcast('Old', 1, '{"amt": 5}');
SELECT steps->0->'to_type' AS to_type FROM es.upcaster_chains WHERE event_type = 'Old';
SELECT es.create_upcaster('Snap', 1, '[{"op": "replace", "from": "$.data.state"}, {"op": "set", "target": "$.restored", "value": true}]');
SELECT * FROM es.upcast('Snap', 1, '{"state": {"a": 1}, "other": 2}');
SELECT pg_temp.try($$SELECT * FROM es.upcast('Snap', 1, '{"state": 3}')$$);

-- Every documented error code, each naming its rule.
\set VERBOSITY default
-- 22023: bad rules at creation
SELECT pg_temp.try($$SELECT es.create_reducer('e', rules => '{"E": [{"op": "set", "target": "$.a[0]", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('E', 1, '[{"op": "add", "target": "$.a", "value": 1}]')$$);
-- 22035: a path finds nothing
SELECT es.create_reducer('e35', rules => '{"E": [{"op": "set", "target": "$.a", "from": "$.data.missing"}]}');
SELECT es.append('e-1', 0, es.event('E', '{"n": "12abc", "o": 1, "big": 9e131071}'));
\set SHOW_CONTEXT always
SELECT es.fold('e-1', 'e35');
-- 22036: not a number
SELECT es.create_reducer('e36', rules => '{"E": [{"op": "add", "target": "$.a", "from": "$.data.n"}]}');
SELECT es.fold('e-1', 'e36');
-- 2203C: not an object
SELECT es.create_reducer('e3c', rules => '{"E": [{"op": "merge", "target": "$.a", "from": "$.data.o"}]}');
SELECT es.fold('e-1', 'e3c');
-- 22003: numeric overflow
SELECT es.create_reducer('e03', rules => '{"E": [{"op": "add", "target": "$.a", "from": "$.data.big"}, {"op": "add", "target": "$.a", "from": "$.data.big"}]}');
SELECT es.fold('e-1', 'e03');
-- upcaster errors name the rule too
SELECT es.create_upcaster('U', 1, '[{"op": "set", "target": "$.x", "value": 1}, {"op": "move", "from": "$.data.missing", "target": "$.y"}]');
SELECT * FROM es.upcast('U', 1, '{}');
\set SHOW_CONTEXT never
-- 54000: a path too long
SELECT pg_temp.try(format($$SELECT es.create_reducer('e54', rules => jsonb_build_object('E', jsonb_build_array(jsonb_build_object('op', 'set', 'target', '$.a', 'from', %L))))$$,
                          '$.data' || repeat('.a', 600000)));
-- 54001: a target nested too deep for the stack (at creation, where the
-- jsonpath parser recurses, or when the fold builds it: the stack decides)
SELECT coalesce(nullif(pg_temp.try($$SELECT es.create_reducer('e541', rules => jsonb_build_object('E', jsonb_build_array(
    jsonb_build_object('op', 'set', 'target', '$' || repeat('.k', 15000), 'value', 1))))$$), 'ok'),
                pg_temp.try($$SELECT es.fold('e-1', 'e541')$$)) AS deep;
