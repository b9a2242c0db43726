-- test/t/upgrade.sh: a store with data of every kind, loaded at the oldest
-- version the test starts from (written against its API), then updated.
-- Every statement's result is deterministic (no ids, no times), so that
-- two stores loaded with this script can be compared.

CREATE SCHEMA app;

-- Upcasters: Deposited 1 -> 2 by rules (a field renamed), 2 -> 3 by a
-- function (a field added); Withdrawal 1 -> 2 renames the type.
CREATE FUNCTION app.deposited_v3(data jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN data || jsonb_build_object('currency', coalesce(data->>'currency', 'EUR'));

SELECT es.create_upcaster('Deposited', 1, '[{"op": "move", "from": "$.data.amt", "target": "$.amount"}]');
SELECT es.create_upcaster('Deposited', 2, fn => 'app.deposited_v3(jsonb)');
SELECT es.create_upcaster('Withdrawal', 1, '[{"op": "rename_type", "value": "Withdrawn"}]');

-- Reducers: one by rules, one by a function, both taking snapshots.
SELECT es.create_reducer('account', '{"balance": 0, "version": 0}', snapshot_every => 3, rules => $rules$
{
  "Opened": [{"op": "set", "target": "$.owner", "from": "$.data.owner"}],
  "Deposited": [{"op": "add", "target": "$.balance", "from": "$.data.amount"},
                {"op": "set", "target": "$.currency", "from": "$.data.currency"}],
  "Withdrawn": [{"op": "subtract", "target": "$.balance", "from": "$.data.amount"}],
  "*": [{"op": "set", "target": "$.version", "from": "$.stream_version"}]
}
$rules$);

CREATE FUNCTION app.tally(state jsonb, event es.events) RETURNS jsonb
LANGUAGE sql IMMUTABLE
RETURN jsonb_build_object(
    'events', coalesce((state->>'events')::int, 0) + 1,
    'types', coalesce(state->'types', '[]') || to_jsonb(event.event_type),
    'last_version', event.schema_version);

SELECT es.create_reducer('tally', '{}', apply => 'app.tally(jsonb, es.events)', snapshot_every => 2);

-- An inline projection (in the appending transaction) and an async one
-- (caught up by es.run_projections), each with its table.
CREATE TABLE app.balances (account text PRIMARY KEY, balance numeric NOT NULL);

CREATE FUNCTION app.project_balance(event es.events) RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO app.balances AS b (account, balance)
    VALUES (event.stream_id, CASE event.event_type WHEN 'Withdrawn' THEN -1 ELSE 1 END
                             * coalesce((event.data->>'amount')::numeric, 0))
    ON CONFLICT (account) DO UPDATE SET balance = b.balance + excluded.balance;
END;

SELECT es.create_projection('balances', 'app.project_balance(es.events)',
                            ARRAY['Opened', 'Deposited', 'Withdrawn'], tables => ARRAY['app.balances'::regclass]);

CREATE TABLE app.counts (event_type text PRIMARY KEY, n bigint NOT NULL);

CREATE FUNCTION app.count_event(event es.events) RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    INSERT INTO app.counts AS c VALUES (event.event_type, 1)
    ON CONFLICT (event_type) DO UPDATE SET n = c.n + 1;
END;

SELECT es.create_projection('counts', 'app.count_event(es.events)', async => true,
                            tables => ARRAY['app.counts'::regclass]);

-- Subscriptions: one to every event, one to a category's deposits, one
-- never polled.
SELECT es.create_subscription('all');
SELECT es.create_subscription('deposits', ARRAY['Deposited'], ARRAY['account']);
SELECT es.create_subscription('idle');

-- Events in several streams and categories, at every schema version.
SELECT es.append('account-1', 0,
    es.event('Opened', '{"owner": "Ada"}'),
    es.event('Deposited', '{"amt": 100}', schema_version => 1),
    es.event('Deposited', '{"amount": 20}', schema_version => 2),
    es.event('Deposited', '{"amount": 5, "currency": "CHF"}', schema_version => 3),
    es.event('Withdrawal', '{"amount": 30}', schema_version => 1));
SELECT es.append('account-2', 0,
    es.event('Opened', '{"owner": "Brendan"}'),
    es.event('Deposited', '{"amt": 7}', schema_version => 1));
SELECT es.append('order-1', NULL, es.event('Placed', '{"items": 3}'));
SELECT es.append('account-2', 2, es.event('Withdrawal', '{"amount": 2}', schema_version => 1));
SELECT es.append('account-1', 5, es.event('Deposited', '{"amt": 1}', schema_version => 1));

-- Snapshots: taken by folds (every 3 or 2 events) and by hand.
SELECT es.fold('account-1', 'account');
SELECT es.fold('account-2', 'account');
SELECT es.fold('account-1', 'tally');
SELECT es.snapshot('account-2', 'tally');

-- Positions moved: the async projection and the subscriptions part-way.
SELECT es.run_projections(4);
SELECT count(*) FROM es.poll('all', 3);
SELECT count(*) FROM es.poll('deposits', 100);
