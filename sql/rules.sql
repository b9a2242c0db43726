-- Declarative reducers: the rule language, evaluated in C
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
SET timezone = 'UTC';

-- The BankAccount of the guide, TransferCompleted included.
SELECT es.create_reducer('bank_account', '{"balance": 0, "status": "new"}', rules => $$
{
  "AccountOpened": [
    {"op": "set", "target": "$.account_id", "from": "$.stream_id"},
    {"op": "set", "target": "$.owner", "from": "$.data.owner"},
    {"op": "set", "target": "$.balance", "from": "$.data.initial_balance", "default": 0},
    {"op": "set", "target": "$.status", "value": "open"}
  ],
  "MoneyDeposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"}],
  "MoneyWithdrawn": [{"op": "subtract", "target": "$.balance", "from": "$.data.amount"}],
  "TransferCompleted": [
    {"op": "subtract", "target": "$.balance", "from": "$.data.amount",
     "when": {"path": "$.data.from_account", "equals_stream_id": true}},
    {"op": "add", "target": "$.balance", "from": "$.data.amount",
     "when": {"path": "$.data.to_account", "equals_stream_id": true}}
  ],
  "AccountClosed": [{"op": "set", "target": "$.status", "value": "closed"}],
  "*": [{"op": "set", "target": "$.version", "from": "$.stream_version"},
        {"op": "set", "target": "$.updated_at", "from": "$.occurred_at"}]
}
$$);
SELECT es.append('account-A', 0, es.event('AccountOpened', '{"owner": "Ada", "initial_balance": "100.10"}',
                                          occurred_at => '2024-03-01 09:00+00'));
SELECT es.append('account-B', 0, es.event('AccountOpened', '{"owner": "Bob"}',
                                          occurred_at => '2024-03-01 09:30+00'));
SELECT es.append('account-A', 1,
    es.event('MoneyDeposited', '{"amount": 0.1}', occurred_at => '2024-03-02 10:00+00'),
    es.event('MoneyDeposited', '{"amount": "0.2"}', occurred_at => '2024-03-02 11:00+00'),
    es.event('MoneyWithdrawn', '{"amount": 50}', occurred_at => '2024-03-03 10:00+00'));
-- a transfer is one event in each stream
BEGIN;
SELECT es.append('account-A', 4, es.event('TransferCompleted',
    '{"from_account": "account-A", "to_account": "account-B", "amount": "25.05"}',
    occurred_at => '2024-03-04 10:00+00'));
SELECT es.append('account-B', 1, es.event('TransferCompleted',
    '{"from_account": "account-A", "to_account": "account-B", "amount": "25.05"}',
    occurred_at => '2024-03-04 10:00+00'));
COMMIT;
SELECT es.fold('account-A', 'bank_account');
SELECT es.fold('account-B', 'bank_account');
SELECT es.fold('account-A', 'bank_account', as_of => '2024-03-02 10:30+00');
-- exact: 0.1 + 0.2 is 0.3
SELECT es.fold('account-A', 'bank_account', to_version => 3)->'balance' AS balance,
       (es.fold('account-A', 'bank_account', to_version => 3)->>'balance')::numeric = 100.40 AS exact;

-- Every operation and condition.
SELECT es.create_reducer('everything', '{"seen": [], "profile": {"a": 1}}', rules => $$
{
  "Measured": [
    {"op": "min", "target": "$.low", "from": "$.data.v"},
    {"op": "max", "target": "$.high", "from": "$.data.v"},
    {"op": "add", "target": "$.total", "from": "$.data.v"},
    {"op": "subtract", "target": "$.negated", "from": "$.data.v"},
    {"op": "count", "target": "$.measurements"},
    {"op": "append", "target": "$.seen", "from": "$.data.v"},
    {"op": "add", "target": "$.big", "value": 1, "when": {"path": "$.data.v ? (@ > 10)", "exists": true}},
    {"op": "add", "target": "$.tagged", "value": 1, "when": [{"path": "$.data.tag", "equals": "x"},
                                          {"path": "$.metadata.source", "exists": false}]}
  ],
  "Noted": [
    {"op": "set", "target": "$.note", "from": "$.data"},
    {"op": "merge", "target": "$.profile", "from": "$.data.profile", "if_missing": "skip"},
    {"op": "merge", "from": "$.data.extra", "default": {}},
    {"op": "set", "target": "$.first_tag", "from": "$.data.tags[0]", "if_missing": "skip"},
    {"op": "remove", "target": "$.negated", "when": {"path": "$.data.reset", "equals": true}}
  ],
  "*": [{"op": "count", "target": "$.events"}, {"op": "set", "target": "$.last_type", "from": "$.event_type"}]
}
$$);
SELECT es.append('m-1', 0,
    es.event('Measured', '{"v": 5, "tag": "x"}'),
    es.event('Measured', '{"v": 12.5}'),
    es.event('Measured', '{"v": -3, "tag": "x"}', '{"source": "import"}'),
    es.event('Noted', '{"profile": {"b": 2}, "extra": {"color": "red"}, "tags": ["t1", "t2"]}'),
    es.event('Noted', '{"reset": true}'),
    es.event('Other', '{}'));
SELECT jsonb_pretty(es.fold('m-1', 'everything'));

-- Runtime policy: missing values are errors unless the rule says otherwise,
-- numbers must be numbers, merges need objects; errors name the rule, the
-- stream and the version.
SELECT es.append('account-C', 0, es.event('AccountOpened', '{"owner": "Cy"}'),
                                 es.event('MoneyDeposited', '{"amt": 5}'));
\set VERBOSITY default
SELECT es.fold('account-C', 'bank_account');
SELECT pg_temp.try($$SELECT es.fold('account-C', 'bank_account')$$);
SELECT es.append('account-D', 0, es.event('AccountOpened', '{"owner": "Di"}'),
                                 es.event('MoneyDeposited', '{"amount": "ten"}'));
SELECT es.fold('account-D', 'bank_account');
SELECT es.append('account-E', 0, es.event('AccountOpened', '{"owner": ["not", "a", "name"]}'),
                                 es.event('MoneyDeposited', '{"amount": {"value": 1}}'));
SELECT pg_temp.try($$SELECT es.fold('account-E', 'bank_account')$$);
SELECT es.append('m-2', 0, es.event('Noted', '{"profile": 7}'));
SELECT pg_temp.try($$SELECT es.fold('m-2', 'everything')$$);
SELECT es.create_reducer('append_to_text', '{"log": "text"}', rules => '{"*": [{"op": "append", "target": "$.log", "from": "$.event_type"}]}');
SELECT pg_temp.try($$SELECT es.fold('m-1', 'append_to_text')$$);
SELECT es.create_reducer('text_total', '{"total": "n/a"}', rules => '{"*": [{"op": "add", "target": "$.total", "value": 1}]}');
SELECT pg_temp.try($$SELECT es.fold('m-1', 'text_total')$$);

-- Validation when the reducer is created: nothing is stored on error.
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '[]')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"Opened*": []}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"": []}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": {"op": "set", "target": "$.a", "value": 1}}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [42]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"plus": "a", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"from": "$.data.a"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "add": "b", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "from": "$.data.a"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": 3, "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a[*]", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a ? (@ > 1)", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "move", "from": "$.data.a", "target": "$.b"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "rename_type", "value": "F"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "replace", "value": {}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "replace", "from": "$.data", "default": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "add", "target": "$.a", "value": 1, "if_exists": "keep"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "add", "target": "$.a", "value": "1"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "add", "target": "$.a", "from": "$.data.a", "default": "0"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "count", "target": "$.a", "value": 1}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "merge", "target": "$.a", "value": {}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "from": "$.data.a", "if_missing": "ignore"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "from": 7}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "from": "$.data.a["}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "from": "$.payload.a"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "from": "data.a"}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "when": {"path": "$.data.a"}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "when": {"path": "$.data.a", "equals": 1, "exists": true}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "when": {"path": "$.data.a", "is": 1}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "when": []}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', rules => '{"E": [{"op": "set", "target": "$.a", "value": 1, "when": {"path": "$.data.a", "equals_stream_id": false}}]}')$$);
SELECT pg_temp.try($$SELECT es.create_reducer('bad', '[]', rules => '{"E": [{"op": "count", "target": "$.n"}]}')$$);
SELECT count(*) AS bad_reducers FROM es.reducers WHERE name = 'bad';
-- es.reducers tells the kinds apart
SELECT name, kind, apply, rules IS NOT NULL AS has_rules FROM es.reducers ORDER BY name;

-- Rules and an equivalent function reducer agree on random histories.
CREATE FUNCTION bank_fn(state jsonb, event es.events) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    amount numeric := (event.data->>'amount')::numeric;
    balance numeric := (state->>'balance')::numeric;
BEGIN
    CASE event.event_type
    WHEN 'AccountOpened' THEN
        state := state || jsonb_build_object('account_id', event.stream_id, 'owner', event.data->'owner',
            'balance', coalesce((event.data->>'initial_balance')::numeric, 0), 'status', 'open');
    WHEN 'MoneyDeposited' THEN
        state := jsonb_set(state, '{balance}', to_jsonb(balance + amount));
    WHEN 'MoneyWithdrawn' THEN
        state := jsonb_set(state, '{balance}', to_jsonb(balance - amount));
    WHEN 'TransferCompleted' THEN
        IF event.data->>'from_account' = event.stream_id THEN
            state := jsonb_set(state, '{balance}', to_jsonb(balance - amount));
            balance := balance - amount;
        END IF;
        IF event.data->>'to_account' = event.stream_id THEN
            state := jsonb_set(state, '{balance}', to_jsonb(balance + amount));
        END IF;
    WHEN 'AccountClosed' THEN
        state := state || '{"status": "closed"}';
    ELSE
    END CASE;
    RETURN state || jsonb_build_object('version', event.stream_version,
                                       'updated_at', to_jsonb(event.occurred_at));
END $$;
SELECT es.create_reducer('bank_fn', '{"balance": 0, "status": "new"}', 'bank_fn'::regproc);
SELECT setseed(0.42);
DO $$
DECLARE
    s int; i int; t text; other text;
BEGIN
    FOR s IN 1..20 LOOP
        PERFORM es.append('rnd-' || s, 0, es.event('AccountOpened',
            jsonb_build_object('owner', 'o' || s, 'initial_balance', round((random() * 100)::numeric, 2))));
        FOR i IN 1..(10 + (random() * 40)::int) LOOP
            t := (ARRAY['MoneyDeposited', 'MoneyWithdrawn', 'TransferCompleted', 'TransferCompleted', 'Ignored'])[1 + (random() * 4)::int];
            other := 'rnd-' || (1 + (random() * 19)::int);
            PERFORM es.append('rnd-' || s, NULL, es.event(t, jsonb_build_object(
                'amount', round((random() * 1000)::numeric, (random() * 4)::int)::text,
                'from_account', CASE WHEN random() < 0.5 THEN 'rnd-' || s ELSE other END,
                'to_account', CASE WHEN random() < 0.5 THEN 'rnd-' || s ELSE other END),
                occurred_at => timestamptz '2024-01-01' + make_interval(mins => i)));
        END LOOP;
        IF random() < 0.3 THEN
            PERFORM es.append('rnd-' || s, NULL, es.event('AccountClosed', '{}'));
        END IF;
    END LOOP;
END $$;
SELECT count(*) AS streams, sum(es.stream_version(stream_id)) > 400 AS enough_events,
       count(*) FILTER (WHERE es.fold(stream_id, 'bank_account') IS DISTINCT FROM es.fold(stream_id, 'bank_fn')) AS mismatches,
       count(*) FILTER (WHERE es.fold(stream_id, 'bank_account', to_version => 7) IS DISTINCT FROM es.fold(stream_id, 'bank_fn', to_version => 7)) AS mismatches_v7
FROM (SELECT DISTINCT stream_id FROM es.streams WHERE stream_id LIKE 'rnd-%') s;
-- es.fold_agg with rules
SELECT count(*) FILTER (WHERE f IS DISTINCT FROM es.fold(stream_id, 'bank_account')) AS agg_mismatches
FROM (SELECT stream_id, es.fold_agg(e, 'bank_account' ORDER BY stream_version) f
      FROM es.events e WHERE stream_id LIKE 'rnd-%' GROUP BY stream_id) a;

-- Snapshots with a rules reducer change nothing.
SELECT es.create_reducer('bank_snap', '{"balance": 0, "status": "new"}',
    rules => (SELECT rules FROM es.reducers WHERE name = 'bank_account'), snapshot_every => 4);
SELECT count(*) AS mismatches FROM generate_series(0, 60) v
WHERE es.fold('rnd-1', 'bank_snap', to_version => v) IS DISTINCT FROM es.fold('rnd-1', 'bank_account', to_version => v);
SELECT count(*) AS mismatches FROM generate_series(0, 60) v
WHERE es.fold('rnd-1', 'bank_snap', to_version => v) IS DISTINCT FROM es.fold('rnd-1', 'bank_account', to_version => v);
SELECT count(*) > 0 AS has_snapshots FROM es.snapshots WHERE reducer = 'bank_snap';

-- Replacing the rules takes effect at once (the compiled cache is invalidated).
SELECT es.fold('account-B', 'bank_snap')->'balance' AS before;
SELECT es.create_reducer('bank_snap', '{"balance": 1000}', rules => '{"*": [{"op": "count", "target": "$.events"}]}');
SELECT es.fold('account-B', 'bank_snap') AS after;
