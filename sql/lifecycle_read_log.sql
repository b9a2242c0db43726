-- Stream lifecycle, read side: the lifecycle events ("$" types, in the
-- "$" companion streams) reach the log's consumers -- es.read_all,
-- subscriptions (es.poll, es.wait, es.subscriptions), async projections
-- (es.run_projections, es.projections), inline projections (the trigger),
-- back-fills and rebuilds -- only when their type filter names them; a
-- NULL filter (every type) leaves them out.  A category filter matches a
-- "$" event by the category of the stream it concerns.  Hidden events stay
-- in the log.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all

CREATE SCHEMA app;
CREATE TABLE app.seen (projection text, stream_id text, event_type text, about text);
CREATE FUNCTION app.seen_by(p text, e es.events) RETURNS void LANGUAGE sql AS $$
    INSERT INTO app.seen VALUES (p, e.stream_id, e.event_type, e.data->>'stream_id')
$$;
CREATE FUNCTION app.on_all(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT app.seen_by('all', e) $$;
CREATE FUNCTION app.on_deleted(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT app.seen_by('deleted', e) $$;
CREATE FUNCTION app.on_async_all(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT app.seen_by('async all', e) $$;
CREATE FUNCTION app.on_async_life(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT app.seen_by('async lifecycle', e) $$;
CREATE FUNCTION app.on_backfill(e es.events) RETURNS void LANGUAGE sql AS $$ SELECT app.seen_by('backfill', e) $$;

-- inline and async projections: every type (NULL), and ones that name "$" types
SELECT es.create_projection('all', 'app.on_all(es.events)', tables => '{app.seen}');
SELECT es.create_projection('deleted', 'app.on_deleted(es.events)',
                            event_types => '{$deleted,Placed}', tables => '{app.seen}');
SELECT es.create_projection('async all', 'app.on_async_all(es.events)', async => true);
SELECT es.create_projection('async lifecycle', 'app.on_async_life(es.events)',
                            event_types => '{$deleted,$truncated,$tombstoned}', async => true);
-- subscriptions: every type, "$deleted" only, lifecycle events of orders
SELECT es.create_subscription('all');
SELECT es.create_subscription('deletions', '{$deleted}');
SELECT es.create_subscription('order lifecycle', '{$deleted,$tombstoned,Placed}', '{order}');

SELECT es.append('order-1', 0, es.event('Placed', '{"n": 1}'), es.event('Paid', '{"n": 2}'));
SELECT es.append('user-1', 0, es.event('Joined', '{"n": 3}'), es.event('Renamed', '{"n": 4}'));
SELECT es.append('order-2', 0, es.event('Placed', '{"n": 5}'));
SELECT FROM es.delete_stream('order-1');
SELECT FROM es.truncate_stream('user-1', 2);
SELECT FROM es.tombstone_stream('order-2');
SELECT FROM es.tombstone_stream('order-3');

-- es.read_all: NULL leaves the lifecycle events out; hidden events stay
SELECT global_position, stream_id, stream_version, event_type FROM es.read_all(0);
SELECT stream_id, event_type, data->>'stream_id' AS about
FROM es.read_all(0, NULL, '{$deleted}');
SELECT stream_id, event_type FROM es.read_all(0, NULL, '{Placed,$deleted,$tombstoned,$truncated}');
-- by category: that of the stream concerned
SELECT stream_id, event_type FROM es.read_all(0, NULL, '{Placed,$deleted,$tombstoned,$truncated}', '{order}');
SELECT stream_id, event_type FROM es.read_all(0, NULL, '{Joined,$deleted,$truncated}', '{user}');
SELECT count(*) FROM es.read_all(0, NULL, '{$deleted}', '{$order}');
SELECT stream_id, event_type FROM es.read_all(0, NULL, NULL, '{order}');
-- max_count counts only what is returned
SELECT stream_id, event_type FROM es.read_all(0, 1, '{$truncated}');

-- subscriptions: the lag counts what the filter may return
SELECT name, event_types, categories, position, events_behind FROM es.subscriptions ORDER BY name;
SELECT es.wait('deletions', 0);
SELECT stream_id, event_type FROM es.poll('all');
SELECT stream_id, event_type, data->>'stream_id' AS about FROM es.poll('deletions');
SELECT stream_id, event_type FROM es.poll('order lifecycle');
SELECT name, events_behind FROM es.subscriptions ORDER BY name;
SELECT es.wait('deletions', 0);

-- inline projections (the trigger, in the appending transaction)
SELECT projection, stream_id, event_type, about FROM app.seen ORDER BY projection, stream_id, event_type;

-- async projections: the lag, then a run
SELECT name, event_types, events_behind FROM es.projections WHERE mode = 'async' ORDER BY name;
TRUNCATE app.seen;
SELECT es.run_projections();
SELECT projection, stream_id, event_type, about FROM app.seen ORDER BY projection, stream_id, event_type;
SELECT name, events_behind FROM es.projections WHERE mode = 'async' ORDER BY name;

-- rebuilds replay the same (each empties app.seen first)
SELECT es.rebuild_projection('all');
SELECT projection, stream_id, event_type, about FROM app.seen ORDER BY projection, stream_id, event_type;
SELECT es.rebuild_projection('deleted');
SELECT projection, stream_id, event_type, about FROM app.seen ORDER BY projection, stream_id, event_type;

-- a back-fill (a projection created over the history) too
TRUNCATE app.seen;
SELECT es.create_projection('backfill', 'app.on_backfill(es.events)',
                            event_types => '{$tombstoned}', tables => '{app.seen}');
SELECT projection, stream_id, event_type, about FROM app.seen ORDER BY projection, stream_id, event_type;

-- an upcaster cannot sneak a user event in as a "$" type for NULL filters
-- lifecycle-merge: if es.create_upcaster refuses "$" types, drop this check
SELECT es.create_upcaster('Renamed', 1, '[{"op": "rename_type", "value": "$renamed"}]');
SELECT count(*) FROM es.read_all(0, NULL, NULL) WHERE event_type = '$renamed';
SELECT stream_id, event_type FROM es.read_all(0, NULL, '{$renamed}');
