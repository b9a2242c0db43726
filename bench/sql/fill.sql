-- Top up one store (schema :"s", es or raw) to about :events events, spread
-- evenly over the streams 'acct-1' .. 'acct-:streams': every stream gets
-- the same number of new events after its current version, written
-- directly with one INSERT ... SELECT (the same statements for both sides),
-- and its counter in :"s".streams moves with them.
-- Psql variables: s, streams, events.
SELECT greatest(0, :events - (SELECT count(*) FROM :"s".events)) / :streams AS per \gset
INSERT INTO :"s".events (stream_id, stream_version, event_id, event_type,
                         schema_version, data, metadata, occurred_at)
SELECT 'acct-' || i, coalesce(st.version, 0) + k, es.uuid_v7(), 'Deposited', 1,
       jsonb_build_object('amount', k % 1000, 'currency', 'EUR',
                          'note', 'benchmark event payload'),
       NULL, now()
FROM generate_series(1, :streams) i
LEFT JOIN :"s".streams st ON st.stream_id = 'acct-' || i
CROSS JOIN generate_series(1, :per) k
ORDER BY 1, 2;
INSERT INTO :"s".streams AS st (stream_id, category, version, created_at, updated_at)
SELECT 'acct-' || i, 'acct', :per, now(), now()
FROM generate_series(1, :streams) i
WHERE :per > 0
ON CONFLICT (stream_id) DO UPDATE SET version = st.version + :per, updated_at = now();
