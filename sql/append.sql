-- es.append: versions, conflicts, idempotent retries, atomic batches
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- A new stream (expected version 0) starts at version 1.
SELECT es.append('account-1', 0,
    es.event('AccountOpened', '{"owner": "Ada"}',
             event_id => '00000000-0000-7000-8000-000000000001'));
-- An exact expected version, two events: versions 2 and 3.
SELECT es.append('account-1', 1,
    es.event('Deposited', '{"amount": 10}', event_id => '00000000-0000-7000-8000-000000000002'),
    es.event('Deposited', '{"amount": 5}', event_id => '00000000-0000-7000-8000-000000000003'));
-- Any version (NULL).
SELECT es.append('account-1', NULL,
    es.event('Withdrawn', '{"amount": 3}', '{"user": "bob"}',
             '00000000-0000-7000-8000-000000000004', '2020-01-02 03:04:05+00', 2));
SELECT stream_id, stream_version, event_id, event_type, schema_version, data, metadata
FROM es.events ORDER BY global_position;
SELECT stream_id, category, version FROM es.streams;

-- Global positions follow the order of appends and of events in a batch.
SELECT array_agg(stream_version ORDER BY global_position) FROM es.events;
-- The writer's transaction id and the recording time are stored;
-- occurred_at defaults to the recording time.
SELECT count(*) FILTER (WHERE transaction_id IS NOT NULL) AS with_xid,
       count(*) FILTER (WHERE occurred_at = recorded_at) AS occurred_is_recorded,
       count(*) FILTER (WHERE occurred_at = '2020-01-02 03:04:05+00') AS back_dated
FROM es.events;
BEGIN;
SELECT es.append('xid-check', 0, es.event('E', '{}'));
SELECT transaction_id = pg_current_xact_id() AS same_xid,
       recorded_at = now() AS recorded_now
FROM es.events WHERE stream_id = 'xid-check';
ROLLBACK;

-- Conflicts: SQLSTATE 40001, constraint es_expected_version, and a detail.
SELECT pg_temp.try($$SELECT es.append('account-1', 2, es.event('Deposited', '{"amount": 1}'))$$);
SELECT pg_temp.try($$SELECT es.append('account-1', 0, es.event('AccountOpened', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('account-2', 3, es.event('Deposited', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('account-1', 9223372036854775807, es.event('Deposited', '{}'))$$);
SELECT count(*) AS events_after_conflicts FROM es.events;

-- Idempotent retry: the ids already stored right after the expected
-- version return the same version and write nothing, even when the stream
-- has moved on since.
SELECT es.append('account-1', 1,
    es.event('Deposited', '{"amount": 10}', event_id => '00000000-0000-7000-8000-000000000002'),
    es.event('Deposited', '{"amount": 5}', event_id => '00000000-0000-7000-8000-000000000003'));
SELECT es.append('account-1', 0,
    es.event('AccountOpened', '{"owner": "Ada"}',
             event_id => '00000000-0000-7000-8000-000000000001'));
SELECT count(*) AS events_after_retries FROM es.events;
-- A partial overlap is a conflict; so is the same ids in another order.
SELECT pg_temp.try($$SELECT es.append('account-1', 1,
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000002'),
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-0000000000ff'))$$);
SELECT pg_temp.try($$SELECT es.append('account-1', 1,
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000003'),
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000002'))$$);
-- One event stored right after version 1 is exactly what was stored there.
SELECT es.append('account-1', 1,
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000002'));

-- With no expected version, a retry of the stream's last events is
-- idempotent; an id stored anywhere else is a unique violation.
SELECT es.append('account-1', NULL,
    es.event('Withdrawn', '{"amount": 3}', event_id => '00000000-0000-7000-8000-000000000004'));
SELECT pg_temp.try($$SELECT es.append('account-1', NULL,
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000003'))$$);
SELECT pg_temp.try($$SELECT es.append('account-9', NULL,
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000001'))$$);
-- ... and so is an id stored elsewhere behind a new first id.
SELECT pg_temp.try($$SELECT es.append('account-9', 0,
    es.event('Opened', '{}', event_id => '00000000-0000-7000-8000-0000000000aa'),
    es.event('Deposited', '{}', event_id => '00000000-0000-7000-8000-000000000001'))$$);
SELECT count(*) AS events_after_duplicates FROM es.events;
SELECT count(*) AS streams_after_duplicates FROM es.streams;

-- Several appends in one transaction commit or roll back together.
BEGIN;
SELECT es.append('account-3', 0, es.event('AccountOpened', '{}'));
SELECT es.append('account-4', 0, es.event('AccountOpened', '{}'));
ROLLBACK;
SELECT count(*) AS after_rollback FROM es.events WHERE stream_id IN ('account-3', 'account-4');
BEGIN;
SELECT es.append('account-3', 0, es.event('AccountOpened', '{}'));
SELECT es.append('account-4', 0, es.event('AccountOpened', '{}'));
COMMIT;
SELECT count(*) AS after_commit FROM es.events WHERE stream_id IN ('account-3', 'account-4');

-- Large batches go through VARIADIC ARRAY[...].
SELECT es.append('bulk-1', 0, VARIADIC (
    SELECT array_agg(es.event('Tick', jsonb_build_object('n', i)) ORDER BY i)
    FROM generate_series(1, 250) i));
SELECT count(*), min(stream_version), max(stream_version),
       bool_and((data->>'n')::int = stream_version) AS in_order
FROM es.events WHERE stream_id = 'bulk-1';
SELECT es.stream_version('bulk-1');

-- Generated ids are version 7 UUIDs, increasing in generation order.
SELECT count(*) AS v7_ids FROM es.events
WHERE stream_id = 'bulk-1' AND substr(event_id::text, 15, 1) = '7'
  AND substr(event_id::text, 20, 1) IN ('8', '9', 'a', 'b');
SELECT bool_and(a < b) AS increasing FROM (
    SELECT event_id AS a, lead(event_id) OVER (ORDER BY stream_version) AS b
    FROM es.events WHERE stream_id = 'bulk-1') s WHERE b IS NOT NULL;
SELECT bool_and(u < lead_u) AS uuid_v7_increasing FROM (
    SELECT u, lead(u) OVER (ORDER BY i) AS lead_u
    FROM (SELECT i, es.uuid_v7() AS u FROM generate_series(1, 1000) i) g) s
WHERE lead_u IS NOT NULL;

-- A read-only transaction cannot append.
BEGIN READ ONLY;
SELECT pg_temp.try($$SELECT es.append('account-5', 0, es.event('E', '{}'))$$);
ROLLBACK;
