-- The views of the background worker, progress and consumers, in a
-- cluster without shared_preload_libraries (test/t/worker_*.sh run
-- preloaded clusters): no worker, no progress in shared memory, and one
-- view over every consumer of the log.
\getenv abs_srcdir PG_ABS_SRCDIR
\set setup :abs_srcdir '/test/sql/setup.sql'
\set ECHO none
\i :setup
\set ECHO all
\set SHOW_CONTEXT never

-- Not preloaded: the shared-memory views are empty, the settings that a
-- running server reads are there, worker_databases (read at server start
-- only) is not.
SELECT count(*) FROM es.workers;
SELECT count(*) FROM es.progress;
SELECT name, setting, unit, context FROM pg_settings
WHERE name LIKE 'event_sourcing.%' ORDER BY name;
SELECT pg_temp.try($$SHOW event_sourcing.worker_databases$$);
SELECT pg_temp.try($$SET event_sourcing.worker_naptime = '5s'$$);
SELECT pg_temp.try($$SET event_sourcing.progress_notice_interval = -1$$);

-- One view over subscriptions and projections, inline and async.
CREATE SCHEMA app;
SET search_path = app, public;
CREATE TABLE seen (global_position bigint);
CREATE FUNCTION on_any(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF e.data ? 'fail' THEN
        RAISE EXCEPTION 'refused %', e.stream_id USING ERRCODE = '22012';
    END IF;
    INSERT INTO seen VALUES (e.global_position);
END $$;
CREATE FUNCTION on_inline(e es.events) RETURNS void LANGUAGE sql
    AS $$ SELECT NULL $$;
SELECT es.append('acct-1', NULL, es.event('Opened', '{}'), es.event('Deposited', '{}'));
SELECT es.create_projection('inline_one', 'on_inline(es.events)');
SELECT es.create_projection('async_one', 'on_any(es.events)', '{Deposited}', async => true, tables => '{seen}');
SELECT es.create_subscription('sub_one', '{Opened}');
SELECT es.append('acct-2', NULL, es.event('Deposited', '{}'), es.event('Deposited', '{"fail": true}'),
                 es.event('Deposited', '{}'));
SELECT kind, name, mode, owner = current_user::regrole AS owned, event_types, categories,
       position, events_behind, oldest_unapplied_age IS NOT NULL AS waiting,
       last_applied_at IS NOT NULL AS applied, last_error_sqlstate, last_error,
       last_error_position, worker_state, worker_last_run_at
FROM es.consumers ORDER BY kind, name;
SELECT es.run_projections();
SELECT count(*) FROM es.poll('sub_one');
SELECT kind, name, position, events_behind, oldest_unapplied_age IS NOT NULL AS waiting,
       last_applied_at IS NOT NULL AS applied, last_error_sqlstate, last_error,
       last_error_position, last_error_at IS NOT NULL AS failed, worker_state
FROM es.consumers ORDER BY kind, name;

-- Every role reads the three views; the functions behind them take no
-- arguments and read shared memory only.
CREATE ROLE es_watcher;
SET ROLE es_watcher;
SELECT count(*) FROM es.consumers;
SELECT count(*) FROM es.workers;
SELECT count(*) FROM es.progress;
SELECT count(*) FROM es.worker_status();
SELECT count(*) FROM es.progress_status();
RESET ROLE;
DROP ROLE es_watcher;
