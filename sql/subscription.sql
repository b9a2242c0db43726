-- Subscriptions: durable consumers of the log whose position moves in the
-- caller's transaction; filters; the view; privileges; bad input.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

SELECT es.create_subscription('all');
SELECT es.create_subscription('placed', '{Placed}');
SELECT es.create_subscription('orders', categories => '{order}');
SELECT pg_temp.try($$SELECT es.create_subscription('all')$$);

-- nothing yet
SELECT count(*) FROM es.poll('all');
SELECT es.wait('all', 0);

SELECT es.append('order-1', 0, es.event('Placed', '{"n": 1}'), es.event('Paid', '{"n": 2}'));
SELECT es.append('user-1', 0, es.event('Joined', '{"n": 3}'));
SELECT es.append('order-2', 0, es.event('Placed', '{"n": 4}'));
SELECT es.append('user-2', 0, es.event('Joined', '{"n": 5}'));

SELECT es.wait('all', 0);
SELECT name, event_types, categories, position, events_behind,
       oldest_unconsumed_age IS NOT NULL AS waiting, acked_at IS NULL AS never_acked
FROM es.subscriptions ORDER BY name;

-- Rollback: the same events are delivered again.
BEGIN;
SELECT global_position, stream_id, event_type FROM es.poll('all', 2);
SELECT position FROM es.subscriptions WHERE name = 'all';
ROLLBACK;
SELECT position FROM es.subscriptions WHERE name = 'all';
-- Commit: acknowledged, the next poll continues after them.
BEGIN;
SELECT global_position, stream_id, event_type FROM es.poll('all', 2);
COMMIT;
SELECT global_position, stream_id, event_type FROM es.poll('all', 2);
SELECT global_position, stream_id, event_type FROM es.poll('all', 2);
SELECT count(*) FROM es.poll('all');
SELECT es.wait('all', 0);
-- a poll with max_count 0 returns nothing and moves nothing
SELECT count(*) FROM es.poll('placed', 0);

-- Filters: event type, category.  A filtered subscription's position
-- moves past the events it skipped (up to the horizon).
SELECT global_position, stream_id, event_type FROM es.poll('placed');
SELECT global_position, stream_id, event_type FROM es.poll('orders', 1);
SELECT global_position, stream_id, event_type FROM es.poll('orders');
SELECT name, position, events_behind, oldest_unconsumed_age IS NOT NULL AS waiting,
       acked_at IS NOT NULL AS acked
FROM es.subscriptions ORDER BY name;
SELECT es.append('user-3', 0, es.event('Joined', '{}'));
SELECT count(*) FROM es.poll('orders');
SELECT name, position, events_behind FROM es.subscriptions ORDER BY name;

-- Event types match the upcast type.
SELECT es.create_subscription('renamed', '{OrderPlaced}');
SELECT es.create_upcaster('Placed', 1, '[{"op": "rename_type", "value": "OrderPlaced"}]');
SELECT global_position, event_type FROM es.poll('renamed');
SELECT es.drop_upcaster('Placed');

-- Drop.
SELECT es.drop_subscription('renamed');
SELECT pg_temp.try($$SELECT es.drop_subscription('renamed')$$);
SELECT pg_temp.try($$SELECT * FROM es.poll('renamed')$$);
SELECT pg_temp.try($$SELECT es.wait('renamed', 0)$$);

-- Bad input.
SELECT pg_temp.try($$SELECT es.create_subscription(NULL)$$);
SELECT pg_temp.try($$SELECT es.create_subscription('')$$);
SELECT pg_temp.try($$SELECT es.create_subscription('x', '{}')$$);
SELECT pg_temp.try($$SELECT es.create_subscription('x', '{NULL}')$$);
SELECT pg_temp.try($$SELECT es.create_subscription('x', NULL, '{a-b}')$$);
SELECT pg_temp.try($$SELECT * FROM es.poll(NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.poll('all', NULL)$$);
SELECT pg_temp.try($$SELECT * FROM es.poll('all', -1)$$);
SELECT pg_temp.try($$SELECT es.wait('all', NULL)$$);
SELECT pg_temp.try($$SELECT es.wait('all', -1)$$);
SELECT pg_temp.try($$SELECT es.drop_subscription(NULL)$$);

-- Privileges: callers need only EXECUTE; a subscription belongs to the
-- role that created it (and its members, and superusers).
SET client_min_messages = warning;
DROP ROLE IF EXISTS es_consumer;
DROP ROLE IF EXISTS es_stranger;
RESET client_min_messages;
CREATE ROLE es_consumer;
CREATE ROLE es_stranger;
SET ROLE es_consumer;
SELECT es.create_subscription('mine', '{Joined}');
SELECT global_position, stream_id FROM es.poll('mine', 2);
SELECT count(*) FROM es.read_all();
SELECT name, position FROM es.subscriptions WHERE name = 'mine';
SELECT pg_temp.try($$SELECT * FROM es.poll('all')$$);
SELECT pg_temp.try($$UPDATE es.subscriptions_registry SET position = 0$$);
SELECT pg_temp.try($$SELECT * FROM es.subscriptions_registry$$);
SET ROLE es_stranger;
SELECT pg_temp.try($$SELECT * FROM es.poll('mine')$$);
SELECT pg_temp.try($$SELECT es.wait('mine', 0)$$);
SELECT pg_temp.try($$SELECT es.drop_subscription('mine')$$);
RESET ROLE;
-- a superuser may poll any subscription
SELECT global_position, stream_id FROM es.poll('mine');
SET ROLE es_consumer;
SELECT es.drop_subscription('mine');
RESET ROLE;
DROP ROLE es_consumer;
DROP ROLE es_stranger;

-- A registry row as a restore or a manual edit may leave it (issue 13):
-- a NULL in event_types or categories matches nothing, as in SQL; no
-- crash, no internal error, in es.poll, es.wait or the view.
SELECT es.create_subscription('edited', '{Joined}', '{user}');
UPDATE es.subscriptions_registry
SET event_types = ARRAY[NULL, 'Joined'], categories = ARRAY['user', NULL]
WHERE name = 'edited';
SELECT name, event_types, categories, events_behind FROM es.subscriptions WHERE name = 'edited';
SELECT es.wait('edited', 0);
SELECT stream_id, event_type FROM es.poll('edited', 3);
UPDATE es.subscriptions_registry SET event_types = ARRAY[NULL]::text[], categories = NULL
WHERE name = 'edited';
SELECT count(*) FROM es.poll('edited');
SELECT es.drop_subscription('edited');
