-- Upcasting: the registry, the rule language, function upcasters, chains,
-- the read path, es.upcast, the default schema version, and failures.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- Nothing registered: events read as stored, new events get version 1.
SELECT * FROM es.upcaster_chains;
SELECT es.upcast_generation();
SELECT * FROM es.upcast('Deposited', 1, '{"amount": 5}');

------------------------------------------------------------------------
-- Each rule, through es.upcast (one step each, on its own event type)
------------------------------------------------------------------------
SELECT es.create_upcaster('Renamed', 1, '[{"op": "move", "from": "$.data.amount", "target": "$.value"}]');
SELECT * FROM es.upcast('Renamed', 1, '{"amount": 12345678901234567890.123456789, "note": "x"}');
-- untouched values, containers included, come through exactly
SELECT data FROM es.upcast('Renamed', 1,
    '{"amount": 1, "tags": ["a", {"b": [1, 2.50, {"c": null}]}], "n": null, "o": {"x": {}}, "": false}');
-- a nested field renamed in its own object
SELECT es.create_upcaster('RenamedDeep', 1,
    '[{"op": "move", "from": "$.data.address.zip", "target": "$.address.postcode"}]');
SELECT data FROM es.upcast('RenamedDeep', 1, '{"address": {"zip": "1000", "city": "Brussels"}}');

-- add: a default only where the field is missing
SELECT es.create_upcaster('Added', 1, '[{"op": "set", "target": "$.currency", "value": "EUR", "if_exists": "keep"}]');
SELECT data FROM es.upcast('Added', 1, '{"amount": 1}');
SELECT data FROM es.upcast('Added', 1, '{"amount": 1, "currency": "USD"}');

-- set: a constant, whatever was there; any JSON value, numbers exact
SELECT es.create_upcaster('Set', 1,
    '[{"op": "set", "target": "$.source", "value": "import"},
      {"op": "set", "target": "$.limits", "value": {"max": 0.1000000000000000000001, "tags": [1, null, true]}},
      {"op": "set", "target": "$.gone", "value": null}]');
SELECT data FROM es.upcast('Set', 1, '{"source": "web", "gone": 3}');

-- remove: a missing field is already removed
SELECT es.create_upcaster('Removed', 1, '[{"op": "remove", "target": "$.legacy"}, {"op": "remove", "target": "$.a.b"}]');
SELECT data FROM es.upcast('Removed', 1, '{"legacy": [1, 2], "keep": true, "a": {"b": 1, "c": 2}}');
SELECT data FROM es.upcast('Removed', 1, '{"keep": true, "a": 5}');

-- move into a nested object (created when missing) and out of one
SELECT es.create_upcaster('MovedIn', 1,
    '[{"op": "move", "from": "$.data.street", "target": "$.address.street"},
      {"op": "move", "from": "$.data.city", "target": "$.address.city"}]');
SELECT data FROM es.upcast('MovedIn', 1, '{"street": "Main St 1", "city": "Ghent", "name": "Ada"}');
SELECT data FROM es.upcast('MovedIn', 1, '{"street": "Main St 1", "city": "Ghent", "address": {"country": "BE"}}');
SELECT es.create_upcaster('MovedOut', 1,
    '[{"op": "move", "from": "$.data.customer.id", "target": "$.customer_id"},
      {"op": "move", "from": "$.data.customer.name", "target": "$.buyer.name"}]');
SELECT data FROM es.upcast('MovedOut', 1, '{"customer": {"id": 7, "name": "Ada", "vip": false}}');

-- rename_type: the step's result has the new type
SELECT es.create_upcaster('OldName', 1, '[{"op": "rename_type", "value": "NewName"}]');
SELECT * FROM es.upcast('OldName', 1, '{"a": 1}');

-- an empty rule list only raises the version
SELECT es.create_upcaster('Bumped', 1, '[]');
SELECT * FROM es.upcast('Bumped', 1, '{"a": 1}');

------------------------------------------------------------------------
-- Function upcasters: any language, run as the role that created the step,
-- with the settings captured then (the function below calls an unqualified
-- helper, found through the search_path captured at creation)
------------------------------------------------------------------------
CREATE SCHEMA app;
CREATE FUNCTION app.cents(amount numeric) RETURNS numeric
    LANGUAGE sql IMMUTABLE AS 'SELECT amount * 100';
CREATE FUNCTION public.deposited_v2_to_v3(data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN data - 'value'
        || jsonb_build_object('cents', cents((data->>'value')::numeric),
                              'upcast_by', current_user::text);
END $$;

------------------------------------------------------------------------
-- A chain of three steps with a rename of the type in the middle:
--   Deposited v1 -rules-> v2 -function-> v3 -rules, rename-> MoneyDeposited v4
--   MoneyDeposited v4 -rules-> v5
------------------------------------------------------------------------
SELECT es.create_upcaster('Deposited', 1,
    '[{"op": "move", "from": "$.data.amount", "target": "$.value"},
      {"op": "set", "target": "$.method", "value": "cash", "if_exists": "keep"}]');
SET search_path = public, app;
SELECT es.create_upcaster('Deposited', 2, fn => 'deposited_v2_to_v3(jsonb)');
RESET search_path;
SELECT es.create_upcaster('Deposited', 3,
    '[{"op": "rename_type", "value": "MoneyDeposited"},
      {"op": "move", "from": "$.data.method", "target": "$.payment.method"}]');
SELECT es.create_upcaster('MoneyDeposited', 4,
    '[{"op": "set", "target": "$.schema", "value": "v5"}]');

SELECT event_type, first_version, latest_version, jsonb_pretty(steps)
FROM es.upcaster_chains WHERE event_type IN ('Deposited', 'MoneyDeposited')
ORDER BY event_type;

-- New events default to the type's latest version; an explicit one stays.
SELECT es.append('acct-1', 0,
    es.event('Deposited', '{"amount": 10.25}', schema_version => 1),
    es.event('Deposited', '{"value": 3, "method": "card"}', schema_version => 2),
    es.event('Deposited', '{"cents": 700, "method": "wire"}', schema_version => 3),
    es.event('MoneyDeposited', '{"cents": 1, "payment": {"method": "cash"}}'),
    es.event('Deposited', '{"cents": 2}'),
    es.event('Opened', '{"owner": "Ada"}'));

-- Stored as written ...
SELECT stream_version, event_type, schema_version, data
FROM es.events ORDER BY stream_version;
-- ... read upcast: v1 through all four steps, v2 from the middle, v3
-- from the last Deposited step, MoneyDeposited v5 and Deposited v4 (latest)
-- and an event type with no upcasters untouched.
SELECT stream_version, event_type, schema_version, data
FROM es.read_stream('acct-1');
SELECT stream_version, event_type, schema_version
FROM es.read_stream('acct-1', 3, 2, backwards => true);
-- the direct form gives the same
SELECT * FROM es.upcast('Deposited', 1, '{"amount": 10.25}');
-- stored rows are unchanged by reading
SELECT count(*) AS changed_rows FROM es.events e
WHERE (e.event_type, e.schema_version) NOT IN (('Deposited', 1), ('Deposited', 2),
      ('Deposited', 3), ('MoneyDeposited', 5), ('Deposited', 4), ('Opened', 1));

-- The function runs as the role that created the step, whoever reads (the
-- reader needs no privilege on schema app, and its search_path is ignored).
CREATE ROLE es_reader;
SET ROLE es_reader;
SET search_path = pg_catalog;
SELECT data->>'upcast_by' AS upcast_by, current_user
FROM es.read_stream('acct-1', 1, 1);
RESET search_path;
-- ordinary roles read the chains but cannot change them
SELECT count(*) FROM es.upcaster_chains;
SELECT pg_temp.try($$SELECT es.create_upcaster('X', 1, '[]')$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster('Deposited', 3)$$);
SELECT pg_temp.try($$SELECT * FROM es.upcasters_registry$$);
-- the view of the registry is public: whose code runs on every read
SELECT event_type, from_version, to_version, kind, fn, owner, created_at IS NOT NULL AS dated
FROM es.upcasters ORDER BY event_type, from_version;
RESET ROLE;

-- Every step records the role that created it; only that role (a member
-- of it, a superuser) may drop it, even where another role may drop steps.
CREATE ROLE es_upcaster_a;
CREATE ROLE es_upcaster_b;
GRANT EXECUTE ON FUNCTION es.create_upcaster(text, integer, jsonb, regprocedure),
    es.drop_upcaster(text, integer) TO es_upcaster_a, es_upcaster_b;
SET ROLE es_upcaster_a;
SELECT es.create_upcaster('Owned', 1, '[{"op": "set", "target": "$.o", "value": 1}]');
RESET ROLE;
SET ROLE es_upcaster_b;
SELECT es.create_upcaster('Owned', 2, '[{"op": "set", "target": "$.o", "value": 2}]');
SELECT pg_temp.try($$SELECT es.drop_upcaster('Owned')$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster('Owned', 1)$$);
SELECT es.drop_upcaster('Owned', 2);
RESET ROLE;
SELECT event_type, from_version, owner FROM es.upcasters WHERE event_type = 'Owned';
SET ROLE es_upcaster_a;
SELECT es.drop_upcaster('Owned');
RESET ROLE;
SELECT count(*) AS owned_steps FROM es.upcasters WHERE event_type = 'Owned';

-- The function's own error, and its SQLSTATE, surface on read, with a
-- line naming the event.
CREATE OR REPLACE FUNCTION public.deposited_v2_to_v3(data jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT data ? 'value' THEN
        RAISE EXCEPTION 'no value in %', data USING ERRCODE = '22P02';
    END IF;
    RETURN data - 'value' || jsonb_build_object('cents', (data->>'value')::numeric * 100);
END $$;
SELECT es.append('acct-2', 0, es.event('Deposited', '{"note": "no amount"}', schema_version => 2));
SELECT * FROM es.read_stream('acct-2');
SELECT pg_temp.try($$SELECT * FROM es.read_stream('acct-2')$$);
-- the replacement is picked up: the same stream reads with the new body
SELECT data FROM es.read_stream('acct-1', 1, 1);

-- A function returning null or a non-object is a clear error.
CREATE FUNCTION public.returns_null(data jsonb) RETURNS jsonb
    LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION public.returns_array(data jsonb) RETURNS jsonb
    LANGUAGE sql AS 'SELECT ''[1]''::jsonb';
SELECT es.create_upcaster('Nulled', 1, fn => 'public.returns_null(jsonb)');
SELECT es.create_upcaster('Arrayed', 1, fn => 'public.returns_array(jsonb)');
SELECT * FROM es.upcast('Nulled', 1, '{}');
SELECT * FROM es.upcast('Arrayed', 1, '{}');

-- The reader needs no EXECUTE on the function: its creator runs it.
REVOKE EXECUTE ON FUNCTION public.returns_array(jsonb) FROM PUBLIC;
SET ROLE es_reader;
SELECT pg_temp.try($$SELECT * FROM es.upcast('Arrayed', 1, '{}')$$);
RESET ROLE;

-- A dropped function: reads of that step fail clearly, others go on.
DROP FUNCTION public.returns_null(jsonb);
SELECT * FROM es.upcast('Nulled', 1, '{}');
SELECT * FROM es.upcast('Renamed', 1, '{"amount": 1}');
SELECT data->'steps'->0->>'function' AS function
FROM (SELECT to_jsonb(c) AS data FROM es.upcaster_chains c WHERE event_type = 'Nulled') s;

------------------------------------------------------------------------
-- Rules that cannot apply (policy: never discard or overwrite silently)
------------------------------------------------------------------------
-- renaming or moving a missing field is an error naming the event ...
SELECT es.append('acct-3', 0, es.event('Renamed', '{"note": "no amount"}', schema_version => 1));
SELECT * FROM es.read_stream('acct-3');
SELECT pg_temp.try($$SELECT * FROM es.upcast('MovedOut', 1, '{"customer": {"name": "x"}}')$$);
-- ... unless the rule says the field is optional
SELECT es.create_upcaster('Optional', 1,
    '[{"op": "move", "from": "$.data.note", "target": "$.comment", "if_missing": "skip"},
      {"op": "move", "from": "$.data.a.b", "target": "$.b", "if_missing": "skip"}]');
SELECT data FROM es.upcast('Optional', 1, '{"x": 1}');
SELECT data FROM es.upcast('Optional', 1, '{"note": "hi", "a": {"b": 2}}');
-- the destination exists: error, nothing overwritten
SELECT * FROM es.upcast('Renamed', 1, '{"amount": 1, "value": 2}');
SELECT pg_temp.try($$SELECT * FROM es.upcast('MovedIn', 1, '{"street": "a", "city": "b", "address": {"city": "c"}}')$$);
-- a path through something that is not an object
SELECT * FROM es.upcast('MovedIn', 1, '{"street": "a", "city": "b", "address": "Main St"}');
SELECT pg_temp.try($$SELECT * FROM es.upcast('MovedOut', 1, '{"customer": [1]}')$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('RenamedDeep', 1, '{"address": {"zip": 1, "postcode": 2}}')$$);
SELECT es.create_upcaster('SetDeep', 1, '[{"op": "set", "target": "$.a.b.c", "value": 1}]');
SELECT data FROM es.upcast('SetDeep', 1, '{"x": 0}');
SELECT pg_temp.try($$SELECT * FROM es.upcast('SetDeep', 1, '{"a": {"b": 5}}')$$);
-- the error leaves the session usable and the events unchanged
SELECT stream_version, event_type, schema_version, data FROM es.events
WHERE stream_id = 'acct-3';

------------------------------------------------------------------------
-- Registration is validated; nothing is half-registered
------------------------------------------------------------------------
CREATE FUNCTION public.wrong_arg(data json) RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb';
CREATE FUNCTION public.two_args(data jsonb, x int) RETURNS jsonb LANGUAGE sql AS 'SELECT data';
CREATE FUNCTION public.wrong_ret(data jsonb) RETURNS json LANGUAGE sql AS 'SELECT data::json';
CREATE FUNCTION public.set_ret(data jsonb) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT data';
CREATE PROCEDURE public.a_proc(data jsonb) LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE public.an_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb);
SELECT pg_temp.try($$SELECT es.create_upcaster(NULL, 1, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('', 1, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster(repeat('x', 1025), 1, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', NULL, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 0, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 2147483647, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1)$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[]', 'public.returns_array(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.wrong_arg(json)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.two_args(jsonb, int)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.wrong_ret(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.set_ret(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.a_proc(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.an_agg(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'public.nope(jsonb)')$$);
CREATE FUNCTION pg_temp.temp_fn(data jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT data';
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 'pg_temp.temp_fn(jsonb)')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, fn => 0)$$);
-- a second step from the same version; a gap after the chain's end
SELECT pg_temp.try($$SELECT es.create_upcaster('Deposited', 2, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('Deposited', 5, '[]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('MoneyDeposited', 2, '[]')$$);
-- malformed rules
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '{"op": "remove"}')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '"rename"')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[1]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"field": "a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": 1}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "frobnicate"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename", "field": "a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a", "target": "$.b", "value": 1}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename", "field": "a", "to": ["b"]}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a", "target": "$.a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename", "field": 3, "to": "b"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "remove", "target": "$"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "remove", "field": ["a", 2]}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a", "target": "$.a.b"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a.b", "target": "$.a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a", "target": "$.b", "if_missing": "yes"}]')$$);
-- one language, two uses: reducer ops and reducer-only paths are refused
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "add", "target": "$.a", "value": 1}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "count", "target": "$.a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "$.a", "from": "$.metadata.a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "$.a", "value": 1, "when": {"path": "$.data.a", "equals_stream_id": true}}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "move", "from": "$.data.a[0]", "target": "$.b"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "$.a[0]", "value": 1}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "strict $.a", "value": 1}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "replace", "target": "$.a", "from": "$.data.a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "$.a", "value": 1, "if_exists": "replace"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "target": "$.a", "value": 1, "if_exists": "keep", "if_missing": "skip"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "set", "field": "a"}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename_type", "value": ""}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename_type", "value": 5}]')$$);
SELECT pg_temp.try($$SELECT es.create_upcaster('V', 1, '[{"op": "rename_type", "value": "A"}, {"op": "rename_type", "value": "B"}]')$$);
-- none of these left anything behind
SELECT count(*) FROM es.upcaster_chains WHERE event_type = 'V';

------------------------------------------------------------------------
-- Dropping: the last step, or the whole chain
------------------------------------------------------------------------
SELECT pg_temp.try($$SELECT es.drop_upcaster('Deposited', 1)$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster('Deposited', 7)$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster('Nothing', 1)$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster('Deposited', 0)$$);
SELECT pg_temp.try($$SELECT es.drop_upcaster(NULL, 1)$$);
SELECT es.drop_upcaster('Deposited', 3);
SELECT latest_version FROM es.upcaster_chains WHERE event_type = 'Deposited';
SELECT stream_version, event_type, schema_version FROM es.read_stream('acct-1');
SELECT es.drop_upcaster('Deposited');
SELECT count(*) FROM es.upcaster_chains WHERE event_type = 'Deposited';
SELECT stream_version, event_type, schema_version FROM es.read_stream('acct-1', 1, 2);

-- A registration rolled back leaves nothing, in this session either.
BEGIN;
SELECT es.create_upcaster('Opened', 1, '[{"op": "set", "target": "$.x", "value": 1}]');
SELECT event_type, schema_version, data FROM es.read_stream('acct-1', 6);
ROLLBACK;
SELECT event_type, schema_version, data FROM es.read_stream('acct-1', 6);
SELECT * FROM es.upcast('Opened', 1, '{}');

-- The generation changes with the definitions and comes back with them.
SELECT es.upcast_generation() AS g1 \gset
SELECT es.create_upcaster('Opened', 1, '[{"op": "set", "target": "$.x", "value": 1}]');
SELECT es.upcast_generation() <> :g1 AS changed;
SELECT es.drop_upcaster('Opened');
SELECT es.upcast_generation() = :g1 AS restored;
-- replacing an upcaster function changes it too
SELECT es.create_upcaster('Fn', 1, fn => 'public.returns_array(jsonb)');
SELECT es.upcast_generation() AS g2 \gset
CREATE OR REPLACE FUNCTION public.returns_array(data jsonb) RETURNS jsonb
    LANGUAGE sql AS 'SELECT ''{}''::jsonb';
SELECT es.upcast_generation() <> :g2 AS changed_by_replace;
SELECT * FROM es.upcast('Fn', 1, '{"a": 1}');

-- A function upcaster that reads upcast events itself (a chain inside a
-- chain) gets them upcast too.
SELECT es.append('inner-1', 0, es.event('Renamed', '{"amount": 42}', schema_version => 1));
CREATE FUNCTION public.peek(data jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT data || jsonb_build_object('inner', (SELECT r.data FROM es.read_stream('inner-1') r))
$$;
SELECT es.create_upcaster('Peeking', 1, fn => 'public.peek(jsonb)');
SELECT es.append('outer-1', 0, es.event('Peeking', '{"a": 1}', schema_version => 1),
                               es.event('Peeking', '{"a": 2}', schema_version => 1));
SELECT stream_version, data FROM es.read_stream('outer-1');

-- Rows written into the registry directly (by its owner, or by a restore's
-- COPY) reach the compiled registry too.
SELECT * FROM es.upcast('Direct', 1, '{}');
INSERT INTO es.upcasters_registry (event_type, from_version, rules)
    VALUES ('Direct', 1, '[{"op": "set", "target": "$.d", "value": true}]');
SELECT * FROM es.upcast('Direct', 1, '{}');
-- such a step has no owner: it belongs to (and a function step would run as)
-- the extension's owner, which the view shows
SELECT event_type, kind, owner FROM es.upcasters WHERE event_type = 'Direct';
SET ROLE es_upcaster_a;
SELECT pg_temp.try($$SELECT es.drop_upcaster('Direct')$$);
RESET ROLE;
TRUNCATE es.upcasters_registry;
SELECT * FROM es.upcast('Direct', 1, '{}');

-- Direct use: bad input.
SELECT pg_temp.try($$SELECT * FROM es.upcast(NULL, 1, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('A', NULL, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('A', 0, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('A', 1, NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.upcast('A', 1, '[]')$$);

-- The registry is dumped with the events.
SELECT c::regclass::text AS config_relation FROM pg_extension e, unnest(e.extconfig) c
WHERE e.extname = 'event_sourcing' AND c = 'es.upcasters_registry'::regclass;

-- Dropping and creating the extension again in this session: the cached
-- registry (and the OIDs it knew) are forgotten.
SELECT es.create_upcaster('Again', 1, '[{"op": "set", "target": "$.v", "value": 2}]');
SELECT * FROM es.upcast('Again', 1, '{}');
DROP EXTENSION event_sourcing;
CREATE EXTENSION event_sourcing;
SELECT * FROM es.upcast('Again', 1, '{}');
SELECT es.create_upcaster('Again', 1, '[{"op": "set", "target": "$.v", "value": 3}]');
SELECT * FROM es.upcast('Again', 1, '{}');

DROP EXTENSION event_sourcing;
DROP SCHEMA app CASCADE;
DROP FUNCTION public.deposited_v2_to_v3(jsonb), public.returns_array(jsonb),
    public.wrong_arg(json), public.two_args(jsonb, int), public.wrong_ret(jsonb),
    public.set_ret(jsonb), public.peek(jsonb);
DROP PROCEDURE public.a_proc(jsonb);
DROP AGGREGATE public.an_agg(jsonb);
DROP ROLE es_reader;
DROP ROLE es_upcaster_a;
DROP ROLE es_upcaster_b;
