#!/usr/bin/env bash
# The background worker applies every event exactly once under concurrent
# writers: eight writers append in transactions that sleep between appends,
# commit in any order and roll back one in five, while the worker (small
# batches, woken by the commits) catches an async projection up.  Its
# handler checks that each stream's events arrive in order and none is
# missing; at the end the async read model equals the same projection run
# inline, every event was applied once and no error was recorded.
set -eu
source "$(dirname "$0")/../lib.sh"

es_scratch dir wconc
es_cluster_start "$dir" "max_connections = 40" \
    "shared_preload_libraries = 'event_sourcing'" \
    "event_sourcing.worker_databases = 'wconc'" \
    "event_sourcing.worker_naptime = '200ms'" \
    "event_sourcing.worker_batch_size = 37"
es_store wconc
es_psql -d wconc <<'SQL'
CREATE TABLE inline_model (account text PRIMARY KEY, version bigint, total bigint, events int);
CREATE TABLE async_model (LIKE inline_model INCLUDING ALL);
CREATE TABLE async_applied (global_position bigint);
CREATE TABLE stop (at timestamptz);
CREATE FUNCTION apply_to(model regclass, e es.events) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    last bigint;
BEGIN
    EXECUTE format('SELECT version FROM %s WHERE account = $1', model) INTO last USING e.stream_id;
    IF coalesce(last, 0) <> e.stream_version - 1 THEN
        RAISE EXCEPTION '% got version % of % after %', model, e.stream_version, e.stream_id, last;
    END IF;
    EXECUTE format('INSERT INTO %s AS m VALUES ($1, $2, $3, 1) ON CONFLICT (account) DO UPDATE'
                   ' SET version = excluded.version, total = m.total + excluded.total, events = m.events + 1', model)
    USING e.stream_id, e.stream_version, (e.data->>'n')::bigint;
END $$;
CREATE FUNCTION on_inline(e es.events) RETURNS void LANGUAGE sql
    AS $$ SELECT apply_to('inline_model', e) $$;
CREATE FUNCTION on_async(e es.events) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM apply_to('async_model', e);
    INSERT INTO async_applied VALUES (e.global_position);
END $$;
SELECT es.create_projection('inline', 'on_inline(es.events)', event_types => '{Tick}',
                            tables => '{inline_model}');
SELECT es.create_projection('async', 'on_async(es.events)', event_types => '{Tick}',
                            async => true, tables => '{async_model, async_applied}');
SQL

# the worker started before its database existed: wait for its restart
for _ in $(seq 1 300); do
    [ "$(es_psql -d wconc -At -c "SELECT state FROM es.workers")" = idle ] && break
    sleep 0.1
done
es_writers wconc <<'SQL'
\set s random(1, 30)
\set n random(1, 1000)
SELECT es.append('acct-' || :s, NULL, es.event('Tick', jsonb_build_object('n', :n)));
SELECT pg_sleep(random() * 0.003);
SELECT es.append('misc-' || :s, NULL, es.event('Tock', jsonb_build_object('n', :n)));
SELECT es.append('acct-' || (:s % 30 + 1), NULL, es.event('Tick', jsonb_build_object('n', :n)));
SQL

# nothing calls es.run_projections: wait for the worker to catch up
for _ in $(seq 1 1200); do
    [ "$(es_psql -d wconc -At -c "SELECT events_behind FROM es.consumers WHERE name = 'async'")" = 0 ] && break
    sleep 0.1
done

result=$(es_psql -d wconc -At <<'SQL'
SELECT 'ticks ' || count(*) FROM es.events WHERE event_type = 'Tick'
UNION ALL
SELECT 'applied ' || count(*) || ' distinct ' || count(DISTINCT global_position) FROM async_applied
UNION ALL
SELECT 'models differ ' || count(*) FROM
    ((SELECT * FROM inline_model EXCEPT SELECT * FROM async_model)
     UNION ALL
     (SELECT * FROM async_model EXCEPT SELECT * FROM inline_model)) d
UNION ALL
SELECT 'async ' || events_behind || ' behind, error ' || coalesce(last_error, 'none')
    || ', worker ' || CASE WHEN worker_state IN ('idle', 'running') THEN 'up' ELSE worker_state END
FROM es.consumers WHERE name = 'async'
UNION ALL
SELECT 'worker errors ' || errors || ', woken ' || (wakeups > 0) FROM es.workers
SQL
)
echo "$result"
ticks=$(echo "$result" | sed -n 's/^ticks //p')
[ "$ticks" -gt 1000 ]
echo "$result" | grep -qx "applied $ticks distinct $ticks"
echo "$result" | grep -qx "models differ 0"
echo "$result" | grep -qx "async 0 behind, error none, worker up"
echo "$result" | grep -qx "worker errors 0, woken true"
