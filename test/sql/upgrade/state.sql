-- test/t/upgrade.sh: what a store made by data.sql holds and reads as,
-- without ids or times: the same before and after the update.

SELECT 'streams' AS "==", stream_id, category, version FROM es.streams ORDER BY stream_id;
SELECT 'read_all' AS "==", global_position, stream_id, stream_version, event_type, schema_version, data
FROM es.read_all(0, NULL);
SELECT 'read_stream' AS "==", stream_version, event_type, schema_version, data
FROM es.read_stream('account-1', backwards => true);
SELECT 'upcast' AS "==", * FROM es.upcast('Deposited', 1, '{"amt": 9}');
SELECT 'fold' AS "==", s.stream_id, r.name, es.fold(s.stream_id, r.name)
FROM es.streams s CROSS JOIN es.reducers r ORDER BY 2, 3;
SELECT 'fold to_version' AS "==", es.fold('account-1', 'account', to_version => 4);
SELECT 'fold_agg' AS "==", stream_id, es.fold_agg(e, 'account' ORDER BY stream_version)
FROM es.events e GROUP BY stream_id ORDER BY 2;
SELECT 'snapshots' AS "==", reducer, stream_id, stream_version, state,
       fingerprint = es.reducer_fingerprint(reducer) AS current
FROM es.snapshots ORDER BY 2, 3, 4;
SELECT 'snapshot_coverage' AS "==", reducer, stream_id, snapshots, latest_version, stream_version,
       events_since, current
FROM es.snapshot_coverage ORDER BY 2, 3;
SELECT 'reducers' AS "==", name, owner, kind, apply, rules, initial_state, snapshot_every, revision
FROM es.reducers ORDER BY name;
SELECT 'upcasters' AS "==", event_type, from_version, to_version, kind, rules, fn, owner, settings
FROM es.upcasters ORDER BY 2, 3;
SELECT 'upcaster_chains' AS "==", * FROM es.upcaster_chains ORDER BY 2;
SELECT 'projections' AS "==", name, handler, event_types, mode, tables, owner, settings, position,
       events_behind, error_position, error_sqlstate, error_message
FROM es.projections ORDER BY name;
SELECT 'subscriptions' AS "==", name, event_types, categories, position, events_behind, owner
FROM es.subscriptions ORDER BY name;
SELECT 'balances' AS "==", * FROM app.balances ORDER BY account;
SELECT 'counts' AS "==", * FROM app.counts ORDER BY event_type;
