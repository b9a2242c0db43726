-- Upcast events as folds, snapshots and projections see them
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- Deposits were first stored as {"cents": n} (v1), then as {"amount": x} (v2).
CREATE FUNCTION cents_to_amount(data jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (data - 'cents') || jsonb_build_object('amount', (data->>'cents')::numeric * 0.01)
$$;
SELECT es.append('acct-1', 0,
    es.event('Deposited', '{"cents": 1050}', schema_version => 1),
    es.event('Deposited', '{"cents": 5}', schema_version => 1));
SELECT es.create_upcaster('Deposited', 1, fn => 'cents_to_amount(jsonb)');
SELECT es.append('acct-1', 2, es.event('Deposited', '{"amount": 2.25}'));
-- stored rows untouched; new appends get the latest version
SELECT stream_version, schema_version, data FROM es.events ORDER BY global_position;

-- A rules reducer and a function reducer fold the upcast events.
SELECT es.create_reducer('sum_rules', '{"total": 0}',
    rules => '{"Deposited": [{"op": "add", "target": "$.total", "from": "$.data.amount"}]}', snapshot_every => 2);
CREATE FUNCTION sum_fn(state jsonb, event es.events) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('total', (state->>'total')::numeric + (event.data->>'amount')::numeric,
                              'last_version_seen', event.schema_version)
$$;
SELECT es.create_reducer('sum_fn', '{"total": 0}', 'sum_fn(jsonb, es.events)');
SELECT es.fold('acct-1', 'sum_rules'), es.fold('acct-1', 'sum_fn');
SELECT es.fold_agg(e, 'sum_rules' ORDER BY stream_version) FROM es.events e;

-- A registry change retires snapshots built from differently upcast events:
-- a second step (v2 -> v3) doubles every amount.
SELECT reducer, stream_id, latest_version, current FROM es.snapshot_coverage;
SELECT es.create_upcaster('Deposited', 2, rules => '[{"op": "move", "from": "$.data.amount", "target": "$.value"}]');
CREATE FUNCTION value_doubled(data jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT (data - 'value') || jsonb_build_object('amount', (data->>'value')::numeric * 2)
$$;
SELECT es.create_upcaster('Deposited', 3, fn => 'value_doubled(jsonb)');
SELECT reducer, stream_id, latest_version, current FROM es.snapshot_coverage;
SELECT es.fold('acct-1', 'sum_rules') AS after_change, es.fold('acct-1', 'sum_fn') AS function_reducer;
-- the event stored at version 2 goes on through the new steps to version 4
SELECT stream_version, schema_version, data FROM es.read_stream('acct-1');

-- Projections see upcast events, inline and in a rebuild; their type filter
-- matches the upcast type.
SELECT es.create_upcaster('Opened', 1, rules => '[{"op": "rename_type", "value": "AccountOpened"}]');
CREATE TABLE seen (stream_version bigint, event_type text, schema_version int, data jsonb);
CREATE FUNCTION remember(event es.events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO seen VALUES (event.stream_version, event.event_type, event.schema_version, event.data)
$$;
SELECT es.create_projection('seen', 'remember(es.events)',
    event_types => ARRAY['AccountOpened', 'Deposited'], tables => ARRAY['seen']::regclass[]);
SELECT * FROM seen ORDER BY stream_version;
SELECT es.append('acct-1', 3, es.event('Opened', '{}', schema_version => 1),
                              es.event('Deposited', '{"cents": 1}', schema_version => 1));
SELECT * FROM seen ORDER BY stream_version;
SELECT es.rebuild_projection('seen');
SELECT * FROM seen ORDER BY stream_version;
