-- test/t/upgrade.sh: after the update, the store goes on working: new
-- events are folded, upcast, projected inline; the async projection and
-- the subscriptions continue from their positions.  Each check prints
-- "ok: ..." or stops with "upgrade check failed: ...".

CREATE FUNCTION pg_temp.check(ok boolean, what text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'upgrade check failed: %', what;
    END IF;
    RETURN 'ok: ' || what;
END $$;

SELECT position AS all_before FROM es.subscriptions WHERE name = 'all' \gset
SELECT position AS counts_before FROM es.projections WHERE name = 'counts' \gset
SELECT es.fold('account-1', 'account') AS account_before \gset
SELECT balance AS balance_before FROM app.balances WHERE account = 'account-1' \gset

SELECT es.append('account-1', 6,
    es.event('Deposited', '{"amt": 1000}', schema_version => 1),
    es.event('Withdrawal', '{"amount": 1}', schema_version => 1));
SELECT es.append('account-3', 0, es.event('Opened', '{"owner": "Grace"}'));

SELECT pg_temp.check(es.fold('account-1', 'account')
                     = :'account_before'::jsonb
                       || '{"balance": 1095, "version": 8, "currency": "EUR"}',
                     'the fold goes on from the state before the update');
SELECT pg_temp.check((SELECT balance FROM app.balances WHERE account = 'account-1')
                     = :balance_before + 999,
                     'the inline projection is maintained by new appends');
SELECT pg_temp.check((SELECT schema_version = 3 AND data = '{"amount": 1000, "currency": "EUR"}'
                      FROM es.read_stream('account-1', 7, 1)),
                     'a new event of schema version 1 reads as version 3');

-- the subscription's next events: exactly those after its position
CREATE TEMPORARY TABLE polled AS SELECT * FROM es.poll('all', 100);
SELECT 'polled' AS "==", global_position, stream_id, stream_version, event_type, schema_version, data
FROM polled ORDER BY global_position;
SELECT pg_temp.check((SELECT array_agg(global_position ORDER BY global_position) FROM polled)
                     = (SELECT array_agg(global_position ORDER BY global_position)
                        FROM es.events WHERE global_position > :all_before),
                     'the subscription continues from its position');
SELECT pg_temp.check((SELECT count(*) FROM es.poll('all', 100)) = 0
                     AND (SELECT events_behind FROM es.subscriptions WHERE name = 'all') = 0,
                     'the subscription has nothing left');
SELECT 'polled deposits' AS "==", stream_id, stream_version, data FROM es.poll('deposits');

-- the async projection catches up from its position
SELECT pg_temp.check(es.run_projections() = (SELECT count(*) FROM es.events
                                              WHERE global_position > :counts_before),
                     'the async projection applies the events after its position');
SELECT pg_temp.check((SELECT array_agg(c ORDER BY event_type) FROM app.counts c)
                     = (SELECT array_agg((event_type, n)::app.counts ORDER BY event_type)
                        FROM (SELECT event_type, count(*) AS n FROM es.read_all(0, NULL)
                              GROUP BY event_type) t),
                     'the async projection has counted every event, upcast');

SELECT es.snapshot('account-1', 'tally');
SELECT 'after' AS "==", stream_id, es.fold(stream_id, 'account') AS account, es.fold(stream_id, 'tally') AS tally
FROM es.streams ORDER BY 2;
SELECT 'snapshot_coverage' AS "==", reducer, stream_id, snapshots, latest_version, events_since, current
FROM es.snapshot_coverage ORDER BY 2, 3;

-- consistency boundaries: the events of before carry no tags; new events
-- do, and are read and conditioned on by query
SELECT pg_temp.check((SELECT count(*) FROM es.events WHERE tags IS NOT NULL) = 0,
                     'the events of before have no tags');
SELECT es.append('course-1', 0, es.event('CourseDefined', '{"capacity": 1}', tags => ARRAY['course:1']));
SELECT max(global_position) AS course_read FROM es.read_events('[{"tags": ["course:1"]}]') \gset
SELECT es.append_if('[{"tags": ["course:1"]}]', :course_read, 'student-1', 0,
                    es.event('StudentEnrolled', '{}', tags => ARRAY['course:1', 'student:1']));
SELECT 'tagged' AS "==", stream_id, event_type, tags
FROM es.read_events('[{"tags": ["course:1"]}, {"types": ["Opened"]}]') ORDER BY global_position;
SELECT pg_temp.check((SELECT count(*) FROM es.read_events('[{"tags": ["course:1"]}]')) = 2,
                     'tagged events are appended under a condition and read by query');
