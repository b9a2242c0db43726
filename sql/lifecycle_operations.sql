-- Stream lifecycle, write side: es.delete_stream, es.tombstone_stream,
-- es.truncate_stream, their lifecycle events in the `$` companion streams,
-- the reserved `$` names, and appends to tombstoned streams.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

-- What the store holds: streams and events (as the owner).
CREATE FUNCTION pg_temp.streams() RETURNS TABLE (stream_id text, category text, version bigint,
                                                 hidden_through bigint, tombstoned boolean)
LANGUAGE sql AS $$
    SELECT s.stream_id, s.category, s.version, s.hidden_through, s.tombstoned
    FROM es.streams s ORDER BY s.stream_id $$;
CREATE FUNCTION pg_temp.events() RETURNS TABLE (global_position bigint, stream_id text,
                                                stream_version bigint, event_type text,
                                                data jsonb, metadata jsonb)
LANGUAGE sql AS $$
    SELECT e.global_position, e.stream_id, e.stream_version, e.event_type, e.data, e.metadata
    FROM es.events e ORDER BY e.global_position $$;
-- A digest of both, to show that refused calls change nothing.
CREATE FUNCTION pg_temp.digest() RETURNS text LANGUAGE sql AS $$
    SELECT md5((SELECT string_agg(s::text, ',') FROM pg_temp.streams() s)
               || (SELECT string_agg(e::text, ',') FROM pg_temp.events() e)) $$;

SELECT es.append('account-1', 0, es.event('Opened', '{"owner": "Ada"}'),
                 es.event('Deposited', '{"amount": 10}'));
SELECT es.append('account-2', 0, es.event('Opened', '{"owner": "Bob"}'));

-- Delete: the version is kept, hidden_through moves to it, and a $deleted
-- event goes to the companion stream '$account-1'.
SELECT es.delete_stream('account-1', 2);
SELECT * FROM pg_temp.streams();
SELECT * FROM pg_temp.events();
SELECT es.stream_version('account-1');
-- Deleting again with nothing appended since changes nothing and writes no
-- event; an append continues the numbering (expected = the version, or
-- NULL); expected 0 is a conflict.
SELECT es.delete_stream('account-1');
SELECT pg_temp.try($$SELECT es.append('account-1', 0, es.event('Opened', '{}'))$$);
SELECT es.append('account-1', 2, es.event('Opened', '{"owner": "Ada again"}'));
SELECT es.append('account-1', NULL, es.event('Deposited', '{"amount": 1}'));
-- A second delete hides the new events too.
SELECT es.delete_stream('account-1', 4);
SELECT * FROM pg_temp.streams() WHERE stream_id LIKE '%account-1';
SELECT stream_version, event_type, data FROM pg_temp.events() WHERE stream_id = '$account-1';

-- The expected version is checked like an append's: 40001 with the
-- constraint es_expected_version, nothing changed.
SELECT pg_temp.digest() AS before \gset
SELECT pg_temp.try($$SELECT es.delete_stream('account-2', 0)$$);
SELECT pg_temp.try($$SELECT es.delete_stream('account-2', 2)$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('account-2', 0)$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('account-2', 7)$$);
SELECT pg_temp.digest() = :'before' AS unchanged;

-- Truncate: events before before_version are hidden; a truncation below
-- the current one changes nothing and writes nothing.
SELECT es.append('order-1', 0, es.event('Placed', '{}'), es.event('Paid', '{}'),
                 es.event('Summary', '{"total": 5}'), es.event('Shipped', '{}'));
SELECT es.truncate_stream('order-1', 3);
SELECT es.truncate_stream('order-1', 2);
SELECT es.truncate_stream('order-1', 3);
SELECT * FROM pg_temp.streams() WHERE stream_id LIKE '%order-1';
SELECT stream_version, event_type, data FROM pg_temp.events() WHERE stream_id = '$order-1';
-- before_version up to version + 1 (everything hidden), not beyond.
SELECT pg_temp.try($$SELECT es.truncate_stream('order-1', 6)$$);
SELECT es.truncate_stream('order-1', 5);
SELECT hidden_through FROM pg_temp.streams() WHERE stream_id = 'order-1';
-- a delete after a truncation hides the rest; numbering goes on
SELECT es.append('order-1', 4, es.event('Returned', '{}'));
SELECT es.delete_stream('order-1');
SELECT * FROM pg_temp.streams() WHERE stream_id = 'order-1';

-- Tombstone: every later append fails with 55000 (constraint
-- es_stream_tombstoned), never 40001, whatever the expected version.
SELECT es.append('cart-1', 0, es.event('Created', '{}'), es.event('ItemAdded', '{}'));
SELECT es.tombstone_stream('cart-1', 2);
SELECT pg_temp.try($$SELECT es.append('cart-1', 2, es.event('ItemAdded', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-1', 1, es.event('ItemAdded', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-1', 5, es.event('ItemAdded', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-1', 0, es.event('ItemAdded', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-1', NULL, es.event('ItemAdded', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-1', NULL, es.event('A', '{}'), es.event('B', '{}'))$$);
-- delete and truncate of a tombstoned stream: the same refusal
SELECT pg_temp.try($$SELECT es.delete_stream('cart-1')$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('cart-1', 2)$$);
-- tombstoning again succeeds and writes nothing, whatever the expected version
SELECT es.tombstone_stream('cart-1');
SELECT es.tombstone_stream('cart-1', 0);
SELECT * FROM pg_temp.streams() WHERE stream_id LIKE '%cart-1';
SELECT stream_version, event_type, data FROM pg_temp.events() WHERE stream_id = '$cart-1';

-- Tombstoning an id never written reserves it (a version-0 row); an
-- expected version other than 0 or NULL is a conflict.
SELECT pg_temp.try($$SELECT es.tombstone_stream('cart-9', 3)$$);
SELECT es.tombstone_stream('cart-9', 0);
SELECT es.stream_version('cart-9');
SELECT pg_temp.try($$SELECT es.append('cart-9', 0, es.event('Created', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('cart-9', NULL, es.event('Created', '{}'))$$);
SELECT * FROM pg_temp.streams() WHERE stream_id LIKE '%cart-9';
SELECT stream_version, event_type, data FROM pg_temp.events() WHERE stream_id = '$cart-9';

-- The retry of a batch stored before the tombstone writes nothing and
-- returns its version, as any idempotent retry does.
SELECT es.append('cart-2', 0, es.event('Created', '{}', event_id => '00000000-0000-7000-8000-0000000000c2'));
SELECT es.tombstone_stream('cart-2');
SELECT es.append('cart-2', 0, es.event('Created', '{}', event_id => '00000000-0000-7000-8000-0000000000c2'));
SELECT es.append('cart-2', NULL, es.event('Created', '{}', event_id => '00000000-0000-7000-8000-0000000000c2'));

-- Names that begin with `$` are reserved (42939): no user event goes to a
-- `$` stream or has a `$` type; lifecycle operations refuse `$` streams.
SELECT pg_temp.digest() AS before \gset
SELECT pg_temp.try($$SELECT es.event('$deleted', '{}')$$);
SELECT pg_temp.try($$SELECT es.append('$account-2', NULL, es.event('Opened', '{}'))$$);
SELECT pg_temp.try($$SELECT es.append('account-2', NULL, es.event('Deposited', '{}'),
                                      ROW('$deleted', '{}', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.append('$', 0, ROW('$', '{}', NULL, NULL, NULL, NULL, NULL)::es.new_event)$$);
SELECT pg_temp.try($$SELECT es.delete_stream('$account-1')$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('$account-1')$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('$account-1', 1)$$);
-- a `$` elsewhere in a name is an ordinary character
SELECT es.append('account-$3', 0, es.event('Opened$', '{}'));
SELECT pg_temp.digest() <> :'before' AS only_the_last_append_changed;
SELECT es.delete_stream('account-$3');

-- The longest stream id has a companion stream too.
SELECT es.append(repeat('x', 1024), 0, es.event('E', '{}'));
SELECT es.tombstone_stream(repeat('x', 1024));
SELECT length(stream_id), event_type FROM pg_temp.events() WHERE stream_id LIKE '$x%';
SELECT left(pg_temp.try($$SELECT es.append('$' || repeat('x', 1024), NULL, es.event('E', '{}'))$$), 30);
SELECT pg_temp.try($$SELECT es.append(repeat('x', 1025), NULL, es.event('E', '{}'))$$);

-- Bad input: clear errors, nothing changed.
SELECT pg_temp.digest() AS before \gset
SELECT pg_temp.try($$SELECT es.delete_stream(NULL)$$);
SELECT pg_temp.try($$SELECT es.delete_stream('')$$);
SELECT pg_temp.try($$SELECT es.delete_stream(repeat('x', 1025))$$);
SELECT pg_temp.try($$SELECT es.delete_stream('nobody-1')$$);
SELECT pg_temp.try($$SELECT es.delete_stream('nobody-1', 0)$$);
SELECT pg_temp.try($$SELECT es.delete_stream('account-2', -1)$$);
SELECT pg_temp.try($$SELECT es.delete_stream('account-2', 9223372036854775807)$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream(NULL)$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('', 0)$$);
SELECT pg_temp.try($$SELECT es.tombstone_stream('account-2', -5)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream(NULL, 1)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('account-2', NULL)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('account-2', 0)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('account-2', -3)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('account-2', 3)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('account-2', 9223372036854775807)$$);
SELECT pg_temp.try($$SELECT es.truncate_stream('nobody-1', 1)$$);
SELECT pg_temp.digest() = :'before' AS unchanged;

-- The refusing trigger cannot be misused.
SELECT pg_temp.try($$SELECT es.refuse_tombstoned()$$);
SELECT tgname, tgenabled FROM pg_trigger WHERE tgrelid = 'es.streams'::regclass ORDER BY tgname;

-- A lifecycle operation rolls back with its transaction, event included.
BEGIN;
SELECT es.delete_stream('account-2');
ROLLBACK;
SELECT * FROM pg_temp.streams() WHERE stream_id LIKE '%account-2';
-- and the token that lets it write a `$` event does not outlive it: a
-- failed write leaves no way in for the next es.append
SELECT pg_temp.try($$SELECT es.append('$account-2', NULL, es.event('Opened', '{}'))$$);
