-- Upcaster rules over user-sized input: paths of 15,000 keys, 100,000
-- rules, objects of 100,000 fields, data that is not an object, a registry
-- with steps far apart.  Work grows linearly, the stack is checked (54001),
-- a cancel is taken (57014), errors are user-facing, never internal.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

-- A path of 15,000 keys nests 15,000 objects: too deep to build (54001),
-- on every read path, and the transaction goes on.  The step is written
-- into the registry directly: es.create_upcaster parses the path, which a
-- build with larger stack frames (ASan) already refuses there (54001),
-- while the others refuse it when the rules are applied; read, it is 54001
-- either way.
INSERT INTO es.upcasters_registry (event_type, from_version, rules)
SELECT 'Deep', 1, jsonb_build_array(jsonb_build_object('op', 'set',
    'target', '$' || repeat('.k', 15000), 'value', 1, 'if_exists', 'keep'));
SELECT es.append('deep-1', 0, es.event('Deep', '{"a": 1}', schema_version => 1));
BEGIN;
SELECT pg_temp.try($$SELECT es.upcast('Deep', 1, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('deep-1')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all()$$);
SELECT count(*) FROM es.events;
COMMIT;
SELECT es.drop_upcaster('Deep') AS dropped;
-- a path of 1,000 keys is fine
SELECT es.create_upcaster('Nested', 1, jsonb_build_array(jsonb_build_object('op', 'set',
    'target', '$' || repeat('.k', 1000), 'value', 1, 'if_exists', 'keep'))) AS registered;
SELECT data #> (SELECT array_agg('k'::text) FROM generate_series(1, 1000)) AS leaf
FROM es.upcast('Nested', 1, '{}');
-- data nested 1,000 deep that rules reach into and leave
SELECT es.create_upcaster('Dig', 1, jsonb_build_array(
    jsonb_build_object('op', 'move', 'from', '$.data' || repeat('.k', 1000), 'target', '$.leaf'),
    jsonb_build_object('op', 'move', 'from', '$.data' || repeat('.k', 999) || '.m',
                       'target', '$' || repeat('.k', 999) || '.n', 'if_missing', 'skip'))) AS registered;
SELECT data->'leaf' AS leaf, length(data::text) AS length
FROM es.upcast('Dig', 1, (SELECT repeat('{"k": ', 1000) || '7' || repeat('}', 1000))::jsonb);

-- 100,000 rules on an object of 100,000 fields: add, rename, remove.
SELECT es.create_upcaster('Wide', 1, (SELECT jsonb_agg(jsonb_build_object('op', 'set', 'target', '$.f' || i, 'value', i, 'if_exists', 'keep'))
                                     FROM generate_series(1, 100000) i)) AS registered;
SELECT count(*) AS fields, sum(value::numeric) AS total
FROM es.upcast('Wide', 1, '{}') u, jsonb_each_text(u.data);
SELECT es.drop_upcaster('Wide') AS dropped;
SELECT es.create_upcaster('Renamed', 1, (SELECT jsonb_agg(jsonb_build_object('op', 'move', 'from', '$.data.k' || i, 'target', '$.r' || i))
                                        FROM generate_series(1, 100000) i)) AS registered;
SELECT count(*) FILTER (WHERE key LIKE 'r%') AS renamed, count(*) FILTER (WHERE key LIKE 'k%') AS left,
       sum(value::numeric) FILTER (WHERE key = 'r' || value) AS same_values
FROM es.upcast('Renamed', 1, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)) u,
     jsonb_each_text(u.data);
SELECT es.drop_upcaster('Renamed') AS dropped;
SELECT es.create_upcaster('Thinned', 1, (SELECT jsonb_agg(jsonb_build_object('op', 'remove', 'target', '$.k' || i))
                                        FROM generate_series(1, 100000, 2) i)) AS registered;
SELECT count(*) AS fields, sum(value::numeric) AS total
FROM es.upcast('Thinned', 1, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)) u,
     jsonb_each_text(u.data);
SELECT es.drop_upcaster('Thinned') AS dropped;
-- moves into one object, and a rule that finds what the others moved
SELECT es.create_upcaster('Moved', 1, (SELECT jsonb_agg(jsonb_build_object('op', 'move', 'from', '$.data.k' || i, 'target', '$.o.k' || i))
                                      FROM generate_series(1, 50000) i) ||
                                     '[{"op": "move", "from": "$.data.o.k50000", "target": "$.o.\"last\""}]') AS registered;
SELECT (SELECT count(*) FROM jsonb_object_keys(data->'o')) AS moved, data->'o'->'last' AS last,
       data - 'o' AS rest
FROM es.upcast('Moved', 1, (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 50001) i));
SELECT es.drop_upcaster('Moved') AS dropped;

-- 300,000 rules under a 100 ms statement_timeout: cancelled (57014)
CREATE TABLE wider AS
SELECT ('[' || string_agg(format('{"op": "set", "target": "$.f%s", "value": %s, "if_exists": "keep"}', i, i), ',') || ']')::jsonb AS rules
FROM generate_series(1, 300000) i;
SELECT es.create_upcaster('Wider', 1, rules) AS registered FROM wider;
DROP TABLE wider;
SET statement_timeout = '100ms';
SELECT pg_temp.try($$SELECT es.upcast('Wider', 1, '{}')$$);
RESET statement_timeout;
SELECT es.drop_upcaster('Wider') AS dropped;

-- Stored data that is not an object (es.append refuses it, a restore
-- does not): a user-facing error naming the step.  es.fold_agg refuses a
-- hand-built row with such data before upcasting it.
SELECT es.create_upcaster('Odd', 1, '[{"op": "set", "target": "$.x", "value": 1, "if_exists": "keep"}]') AS registered;
SELECT es.create_reducer('counter', rules => '{"*": [{"op": "count", "target": "$.n"}]}');
INSERT INTO es.events (stream_id, stream_version, event_id, event_type, schema_version, data)
VALUES ('odd-1', 1, '00000000-0000-0000-0000-0000000000a1', 'Odd', 1, '[1, 2]'),
       ('odd-1', 2, '00000000-0000-0000-0000-0000000000a2', 'Odd', 1, '"text"');
SELECT pg_temp.try($$SELECT * FROM es.read_stream('odd-1')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_stream('odd-1', 2)$$);
SELECT pg_temp.try($$SELECT es.fold_agg(ROW(1, 'odd-2', 1, '00000000-0000-0000-0000-0000000000a3', 'Odd', 1,
                                            '42', NULL, now(), now(), '1', NULL)::es.events, 'counter')$$);

-- A registry whose steps are far apart (a manual edit): the cache does not
-- allocate for the distance between them.
INSERT INTO es.upcasters_registry (event_type, from_version, rules) VALUES
    ('Far', 1, '[{"op": "set", "target": "$.one", "value": 1, "if_exists": "keep"}]'),
    ('Far', 2, '[{"op": "set", "target": "$.two", "value": 2, "if_exists": "keep"}]'),
    ('Far', 2147483646, '[{"op": "set", "target": "$.\"last\"", "value": 3, "if_exists": "keep"}]');
SELECT * FROM es.upcast('Far', 1, '{}');
SELECT * FROM es.upcast('Far', 3, '{}');
SELECT * FROM es.upcast('Far', 2147483645, '{}');
SELECT * FROM es.upcast('Far', 2147483646, '{}');
