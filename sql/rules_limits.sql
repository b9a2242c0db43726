-- Rules reducers over user-sized input: 100,000 targets, 100,000 state
-- fields, many event types, absurd paths, strings that look like numbers.
-- Work grows linearly, a cancel (statement_timeout) is taken inside the
-- rules, absurd sizes are refused before allocating, errors name the rule.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- How a statement ended: 'finished', or its SQLSTATE and whether the
-- error context names the reducer (a cancel taken inside the rules).
CREATE FUNCTION pg_temp.cancelled(sql text, reducer text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    st text;
    ctx text;
BEGIN
    EXECUTE sql;
    RETURN 'finished';
EXCEPTION WHEN query_canceled THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || CASE WHEN strpos(ctx, format('of reducer "%s"', reducer)) > 0
                      THEN ' inside the rules' ELSE ' elsewhere' END;
END $$;
-- The SQLSTATE, message and the error context line naming the rule.
CREATE FUNCTION pg_temp.try_rule(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    ctx text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || coalesce(' (' || substring(ctx from 'rule [0-9]+ for "[^"]*" of reducer "[^"]*"') || ')', '');
END $$;

-- 100,000 rule targets: compiled and applied in linear time.
CREATE TABLE wide_rules AS
SELECT ('{"*": [' || string_agg(format('{"op": "set", "target": "$.\"f%s\"", "value": %s}', i, i), ',') || ']}')::jsonb AS rules
FROM generate_series(1, 100000) i;
SELECT es.create_reducer('wide', rules => rules) FROM wide_rules;
SELECT es.append('wide-1', 0, es.event('E', '{}'), es.event('E', '{}'));
SELECT count(*) AS fields, sum(value::numeric) AS total
FROM jsonb_each_text(es.fold('wide-1', 'wide'));

-- 300,000 targets under a 100 ms statement_timeout: the compiler takes
-- the cancel (57014) instead of running to the end.
CREATE TABLE wider_rules AS
SELECT ('{"*": [' || string_agg(format('{"op": "set", "target": "$.\"f%s\"", "value": %s}', i, i), ',') || ']}')::jsonb AS rules
FROM generate_series(1, 300000) i;
SET statement_timeout = '100ms';
SELECT pg_temp.cancelled($$SELECT es.create_reducer('wider', rules => rules) FROM wider_rules$$, 'wider');
RESET statement_timeout;
SELECT count(*) FROM es.reducers WHERE name = 'wider';
DROP TABLE wide_rules, wider_rules;

-- A state of 100,000 fields: as the initial state, and merged in from
-- the event.
SELECT es.create_reducer('big_state', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i),
                         rules => '{"*": [{"op": "count", "target": "$.events"}, {"op": "add", "target": "$.k1", "value": 1}]}');
SELECT count(*) AS fields, es.fold('wide-1', 'big_state')->'events' AS events,
       es.fold('wide-1', 'big_state')->'k1' AS k1
FROM jsonb_object_keys(es.fold('wide-1', 'big_state'));
SELECT es.create_reducer('merger', rules => '{"*": [{"op": "merge", "from": "$.data"}, {"op": "count", "target": "$.events"}]}');
SELECT es.append('big-1', 0, es.event('E', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 100000) i)),
                             es.event('E', (SELECT jsonb_object_agg('k' || i, -i) FROM generate_series(1, 100000, 2) i)));
SELECT count(*) AS fields, sum(value::numeric) AS total
FROM jsonb_each_text(es.fold('big-1', 'merger'));
-- merging 100,000 fields into the state, event after event, under a
-- statement_timeout: cancelled (57014)
SET statement_timeout = '200ms';
SELECT pg_temp.cancelled($$
    SELECT es.fold_agg(ROW(g, 'agg-1', g, '00000000-0000-0000-0000-000000000001', 'E', 1, d.data,
                           NULL, now(), now(), '1', NULL)::es.events, 'merger')
    FROM generate_series(1, 1000000) g, (SELECT data FROM es.events WHERE stream_id = 'big-1'
                                         AND stream_version = 1) d$$, 'merger') ~ '^57014' AS cancelled;
RESET statement_timeout;

-- 1,000 event types: each event finds its type's rules at once.
SELECT es.create_reducer('typed', rules => (SELECT jsonb_object_agg('T' || i, jsonb_build_array(jsonb_build_object('op', 'add', 'target', '$.n', 'value', i)))
                                            FROM generate_series(1, 1000) i) || '{"*": [{"op": "count", "target": "$.events"}]}');
SELECT es.append('typed-1', 0, es.event('T7', '{}'), es.event('T500', '{}'), es.event('T1000', '{}'),
                               es.event('T1001', '{}'), es.event('T', '{}'));
SELECT es.fold('typed-1', 'typed');

-- Strings where a number is needed: a number's syntax, or 22036 naming
-- the rule; a number too large for numeric is 22003, naming the rule too.
SELECT es.create_reducer('sum', rules => '{"*": [{"op": "add", "target": "$.total", "from": "$.data.v"}]}');
CREATE FUNCTION pg_temp.total(v text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    st text;
    msg text;
    ctx text;
BEGIN
    RETURN es.fold_agg(ROW(1, 'n-1', 1, '00000000-0000-0000-0000-000000000001', 'E', 1,
                           jsonb_build_object('v', v), NULL, now(), now(), '1', NULL)::es.events, 'sum')->>'total';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, ctx = PG_EXCEPTION_CONTEXT;
    RETURN st || ': ' || msg || coalesce(' (' || substring(ctx from 'rule [0-9]+ for "[^"]*" of reducer "[^"]*"') || ')', '');
END $$;
SELECT v, pg_temp.total(v)
FROM unnest(ARRAY['12', ' 12 ', '-1.5', '+.5', '5.', '1e3', '2E-2', '2024-01-01', '12abc', '-', '.',
                  '1e', '1.2.3', '--1', 'NaN', 'Infinity', '0x10', '1 2', '1e200000', '1e-99999999999999999999']) v;
-- overflow in the arithmetic itself
SELECT es.create_reducer('huge', rules => '{"*": [{"op": "add", "target": "$.total", "value": 9e131071}]}');
SELECT pg_temp.try_rule($$SELECT es.fold('typed-1', 'huge')$$);

-- Paths: a path of 2,000 keys works (and finds nothing here; deeper ones
-- meet the stack limit sooner in the ASan build, whose frames are larger);
-- one of 100,000 keys is too deep for PostgreSQL's jsonpath parser (54001);
-- a path longer than 1 MB is refused (54000) before it is parsed.
SELECT es.create_reducer('long_path', rules => jsonb_build_object('*', jsonb_build_array(
    jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data' || repeat('.a', 2000), 'default', 'none'))));
SELECT es.fold('typed-1', 'long_path');
SELECT pg_temp.try(format($$SELECT es.create_reducer('deep_path', rules => %L)$$,
    jsonb_build_object('*', jsonb_build_array(jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data' || repeat('.a', 100000))))));
SELECT pg_temp.try(format($$SELECT es.create_reducer('too_long', rules => %L)$$,
    jsonb_build_object('*', jsonb_build_array(jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data' || repeat('.a', 600000))))));
SELECT pg_temp.try(format($$SELECT es.create_reducer('too_long', rules => %L)$$,
    jsonb_build_object('*', jsonb_build_array(jsonb_build_object('op', 'set', 'target', '$.x', 'from', '$.data.a',
        'when', jsonb_build_object('path', '$.data' || repeat('.a', 600000), 'exists', true))))));
