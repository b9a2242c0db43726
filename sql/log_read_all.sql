-- The global log: es.read_all after a cursor, its filters, the horizon
-- that keeps readers from skipping events committed late, bad input.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- An empty log: nothing to read, the horizon is the first position.
SELECT es.log_horizon();
SELECT count(*) FROM es.read_all();

SELECT es.append('order-1', 0, es.event('Placed', '{"n": 1}'), es.event('Paid', '{"n": 2}'));
SELECT es.append('orders-1', 0, es.event('Placed', '{"n": 3}'));
SELECT es.append('order', 0, es.event('Placed', '{"n": 4}'));
SELECT es.append('user-7-x', 0, es.event('Joined', '{"n": 5}'));
SELECT es.append('order-2', 0, es.event('Shipped', '{"n": 6}'));

-- Every event, in position order; the horizon is past the last one.
SELECT global_position, stream_id, event_type, data FROM es.read_all();
SELECT es.log_horizon();
-- after a cursor (exclusive), at most max_count, NULL: no limit
SELECT global_position FROM es.read_all(2);
SELECT global_position FROM es.read_all(2, 2);
SELECT global_position FROM es.read_all(0, NULL);
SELECT count(*) FROM es.read_all(0, 0);
SELECT count(*) FROM es.read_all(6);
SELECT count(*) FROM es.read_all(1000);
-- all the columns of es.events come back
SELECT bool_and(e.* IS NOT DISTINCT FROM r.*) AS same_rows
FROM es.read_all() r JOIN es.events e USING (global_position);

-- Filters: event types, and categories (the stream id before its first "-":
-- "order" is the category of order-1, order-2 and order, not of orders-1).
SELECT global_position, event_type FROM es.read_all(event_types => '{Placed}');
SELECT global_position, event_type FROM es.read_all(event_types => '{Placed,Shipped}');
SELECT global_position, stream_id FROM es.read_all(categories => '{order}');
SELECT global_position, stream_id FROM es.read_all(categories => '{orders,user}');
SELECT global_position, stream_id, event_type
FROM es.read_all(event_types => '{Placed}', categories => '{order}');
-- max_count counts the events that pass the filter
SELECT global_position FROM es.read_all(0, 2, '{Placed}');
SELECT global_position FROM es.read_all(1, 1, '{Placed}');
SELECT count(*) FROM es.read_all(event_types => '{Nothing}');

-- Event types match the upcast type: Placed becomes OrderPlaced, and a
-- filter on the stored name no longer matches it.
SELECT es.create_upcaster('Placed', 1, '[{"op": "rename_type", "value": "OrderPlaced"}]');
SELECT global_position, event_type, schema_version FROM es.read_all(event_types => '{OrderPlaced}');
SELECT count(*) FROM es.read_all(event_types => '{Placed}');
SELECT global_position, event_type FROM es.read_all(0, 2, '{OrderPlaced,Shipped}');
SELECT es.drop_upcaster('Placed');
SELECT count(*) FROM es.read_all(event_types => '{Placed}');

-- A transaction that appends locks its first position until it ends (an
-- advisory lock with objsubid 17747) and holds the horizon there, also
-- for itself: its own events and any after them wait for its commit.
-- (Appends also lock consistency-boundary buckets, objsubid 17750: see
-- sql/dcb.sql.)
BEGIN;
SELECT es.append('order-3', 0, es.event('Placed', '{}'), es.event('Paid', '{}'));
SELECT classid, objid, objsubid, mode, granted FROM pg_locks
WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
AND objsubid IN (17747, 17748);
SELECT es.log_horizon();
SELECT count(*) FROM es.read_all(6);
SELECT es.append('order-3', 2, es.event('Shipped', '{}'));
SELECT es.log_horizon();
COMMIT;
SELECT es.log_horizon();
SELECT global_position, stream_id, stream_version FROM es.read_all(6);

-- A transaction that appends nothing takes no lock and delays no one.
BEGIN;
SELECT count(*) FROM es.read_all();
SELECT count(*) AS log_locks FROM pg_locks WHERE locktype = 'advisory';
SELECT es.log_horizon();
COMMIT;

-- The lock belongs to the whole transaction: a savepoint rolled back
-- does not release it (later appends of the transaction are behind it).
BEGIN;
SAVEPOINT a;
SELECT es.append('order-4', 0, es.event('Placed', '{}'));
ROLLBACK TO SAVEPOINT a;
SELECT objid, objsubid FROM pg_locks WHERE locktype = 'advisory' AND objsubid IN (17747, 17748);
SELECT es.append('order-5', 0, es.event('Placed', '{}'));
SELECT es.log_horizon();
COMMIT;
-- position 10 went to the rolled-back event: a gap, as sequences leave
SELECT global_position, stream_id FROM es.read_all(9);
SELECT es.log_horizon();

-- Rolled-back appends release their position and leave a gap.
BEGIN;
SELECT es.append('order-6', 0, es.event('Placed', '{}'));
ROLLBACK;
SELECT es.log_horizon();
SELECT count(*) AS log_locks FROM pg_locks WHERE locktype = 'advisory';

-- Bad input is a clear error.
SELECT pg_temp.try($$SELECT * FROM es.read_all(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(-1)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, -1)$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, '{NULL}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, '{""}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, '{{a},{b}}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, NULL, '{}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, NULL, '{order-1}')$$);
SELECT pg_temp.try($$SELECT * FROM es.read_all(0, 10, NULL, '{NULL}')$$);
-- es.next_position is the column default, not for callers
SELECT has_function_privilege('public', 'es.next_position(regclass)', 'EXECUTE');

-- A long log is read through a cursor in batches.
SELECT es.append('long-1', 0, VARIADIC (
    SELECT array_agg(es.event('Tick', jsonb_build_object('n', i)) ORDER BY i)
    FROM generate_series(1, 5000) i));
SELECT count(*), min(global_position), max(global_position) FROM es.read_all(0, NULL);
SELECT count(*), sum((data->>'n')::int) FROM es.read_all(0, 4000, '{Tick}', '{long}');

-- The log is read in a read-only transaction too (a read of it writes
-- nothing); on a standby it is refused (test/t/log_standby.sh).
BEGIN READ ONLY;
SELECT count(*) FROM es.read_all(0, NULL);
SELECT es.log_horizon() > 1 AS horizon_moved;
COMMIT;

-- After the largest position there is nothing (and no overflow computing
-- where to start; the UBSan run checks that).
SELECT count(*) AS after_the_last FROM es.read_all(9223372036854775807);
